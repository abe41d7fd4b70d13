import { api } from '../api';
import { navigate } from '../router';
import { Async, Empty, formatTime, Pager, Table, useAsync } from '../ui';
import { HistoryList } from './history';

export function Organizations({ params }: { params: Record<string, string> }) {
  const state = useAsync(() => api.organizations({ limit: 50, cursor: params.cursor }), [params.cursor]);
  return (
    <section aria-labelledby="organizations-title">
      <h2 id="organizations-title">Organizations</h2>
      <Async state={state} what="organizations">
        {(page) => (
          <>
            <Table caption="organizations" rows={page.data} empty="No organization yet: create one with POST /v1/organizations."
              columns={[
                { label: 'Name', cell: (row) => <a href={`#/organizations/${row.id}`}>{row.name}</a> },
                { label: 'Slug', cell: (row) => row.slug },
                { label: 'Created', cell: (row) => formatTime(String(row.createdAt)) },
              ]} />
            <Pager nextCursor={page.nextCursor} cursor={params.cursor} go={(cursor) => navigate('/organizations', { cursor })} />
          </>
        )}
      </Async>
    </section>
  );
}

export function OrganizationDetail({ id }: { id: number }) {
  const state = useAsync(() => Promise.all([api.organization(id), api.teams(id), api.projects({ organizationId: id, limit: 100 })]), [id]);
  return (
    <section aria-labelledby="organization-title">
      <p><a href="#/organizations">← Organizations</a></p>
      <Async state={state} what="the organization">
        {([{ data: organization }, teams, projects]) => (
          <>
            <h2 id="organization-title">{organization.name} <span class="muted">#{organization.id}</span></h2>
            <h3>Teams and members</h3>
            {teams.data.length === 0 ? <Empty>No team in this organization.</Empty> : teams.data.map((team) => (
              <div class="panel">
                <h4>{team.name} <span class="muted">({team.slug})</span></h4>
                <TeamMembers teamId={team.id} />
              </div>
            ))}
            <h3>Projects</h3>
            <Table caption="projects of the organization" rows={projects.data} empty="No project in this organization."
              columns={[{ label: 'Project', cell: (row) => <a href={`#/projects/${row.id}`}>{row.name}</a> }, { label: 'Status', cell: (row) => row.status }]} />
            <h3>Change history</h3>
            <HistoryList entity="organization" entityId={id} />
          </>
        )}
      </Async>
    </section>
  );
}

function TeamMembers({ teamId }: { teamId: number }) {
  const state = useAsync(() => api.teamMembers(teamId), [teamId]);
  return (
    <Async state={state} what="members">
      {(page) => <Table caption="team members" rows={page.data} empty="No member."
        columns={[{ label: 'User', cell: (row) => <a href={`#/users/${row.userId}`}>#{row.userId}</a> }, { label: 'Role', cell: (row) => row.role },
          { label: 'History', cell: (row) => <a href={`#/history?entity=teamMember&entityId=${teamId}:${row.userId}`}>changes</a> }]} />}
    </Async>
  );
}

export function Projects({ params }: { params: Record<string, string> }) {
  const state = useAsync(() => api.projects({ status: params.status, limit: 50, cursor: params.cursor }), [params.status, params.cursor]);
  return (
    <section aria-labelledby="projects-title">
      <h2 id="projects-title">Projects</h2>
      <div class="toolbar">
        <label>Status <select value={params.status ?? ''} onChange={(event) => navigate('/projects', { status: event.currentTarget.value })}>
          {['', 'planned', 'active', 'paused', 'archived'].map((status) => <option value={status}>{status || 'any'}</option>)}
        </select></label>
      </div>
      <Async state={state} what="projects">
        {(page) => (
          <>
            <Table caption="projects" rows={page.data} empty="No project matches."
              columns={[
                { label: 'Name', cell: (row) => <a href={`#/projects/${row.id}`}>{row.name}</a> },
                { label: 'Status', cell: (row) => row.status },
                { label: 'Organization', cell: (row) => (row.organizationId ? <a href={`#/organizations/${row.organizationId}`}>#{row.organizationId}</a> : '–') },
              ]} />
            <Pager nextCursor={page.nextCursor} cursor={params.cursor} go={(cursor) => navigate('/projects', { status: params.status, cursor })} />
          </>
        )}
      </Async>
    </section>
  );
}

export function ProjectDetail({ id }: { id: number }) {
  const state = useAsync(() => Promise.all([api.project(id), api.projectMembers(id)]), [id]);
  return (
    <section aria-labelledby="project-title">
      <p><a href="#/projects">← Projects</a></p>
      <Async state={state} what="the project">
        {([{ data: project }, members]) => (
          <>
            <h2 id="project-title">{project.name} <span class="muted">#{project.id}, {project.status}</span></h2>
            <h3>Members</h3>
            <Table caption="project members" rows={members.data} empty="No member."
              columns={[{ label: 'User', cell: (row) => <a href={`#/users/${row.userId}`}>#{row.userId}</a> }, { label: 'Role', cell: (row) => row.role }]} />
            <h3>Change history</h3>
            <HistoryList entity="project" entityId={id} />
          </>
        )}
      </Async>
    </section>
  );
}
