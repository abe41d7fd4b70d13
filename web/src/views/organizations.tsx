import { useState } from 'preact/hooks';
import { api, type Organization, type Team } from '../api';
import { DeleteStep, EditForm, optionalText, redrawSaved, text, useSubmit, useWritable } from '../forms';
import { navigate } from '../router';
import { PagedTable } from '../table';
import { Async, Empty, formatTime, Table, useAsync } from '../ui';
import { HistoryList } from './history';
import { Members } from './members';

// The roles the API accepts (src/models/organization.ts and project.ts); anything else is its 400.
const TEAM_ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
const PROJECT_ROLES = ['owner', 'editor', 'viewer'] as const;
const PROJECT_STATUSES = ['planned', 'active', 'paused', 'archived'] as const;

function NameFields({ row }: { row?: { name: string; slug: string } }) {
  return (
    <>
      <label>Name <input name="name" defaultValue={row?.name} required maxLength={200} /></label>
      <label>Slug <input name="slug" defaultValue={row?.slug} required pattern="[a-z0-9\-]+" title="lower-case letters, digits and dashes" /></label>
    </>
  );
}

const nameBody = (form: FormData) => ({ name: text(form, 'name'), slug: text(form, 'slug') });

/** “New …”: a toggle that opens the create form; what was created is announced with a link. */
function useCreator<T>() {
  const [open, setOpen] = useState(false);
  const [created, setCreated] = useState<T | null>(null);
  return { open, setOpen, created, setCreated };
}

export function Organizations({ params }: { params: Record<string, string> }) {
  const state = useAsync(() => api.organizations({ limit: 50, cursor: params.cursor }), [params.cursor]);
  const writable = useWritable();
  const creator = useCreator<Organization>();
  const create = useSubmit((form) => api.createOrganization(nameBody(form)), ({ data }) => { creator.setOpen(false); creator.setCreated(data); state.reload(); });
  return (
    <section aria-labelledby="organizations-title">
      <h2 id="organizations-title">Organizations</h2>
      {writable && <p><button type="button" aria-expanded={creator.open} onClick={() => creator.setOpen(!creator.open)}>New organization</button></p>}
      {writable && creator.open && <EditForm label="new organization" submit={create} action="Create organization" busyAction="Creating…"><NameFields /></EditForm>}
      {creator.created && <p role="status" class="saved">Created <a href={`#/organizations/${creator.created.id}`}>{creator.created.name}</a>.</p>}
      <PagedTable state={state} what="organizations" caption="organizations" empty="No organization yet: create one with “New organization”."
        columns={[
          { label: 'Name', cell: (row) => <a href={`#/organizations/${row.id}`}>{row.name}</a> },
          { label: 'Slug', cell: (row) => row.slug },
          { label: 'Created', cell: (row) => formatTime(String(row.createdAt)) },
        ]}
        cursor={params.cursor} go={(cursor) => navigate('/organizations', { cursor })} />
    </section>
  );
}

function TeamPanel({ team, writable, changed }: { team: Team; writable: boolean; changed: (what: string, form?: HTMLFormElement) => Promise<void> }) {
  const rename = useSubmit((form) => api.updateTeam(team.id, nameBody(form)), ({ data }, form) => changed(`Team ${data.name} saved.`, form));
  return (
    <div class="panel">
      <h4>{team.name} <span class="muted">({team.slug})</span></h4>
      {writable && <EditForm label={`rename team ${team.name}`} submit={rename} action="Save team"><NameFields row={team} /></EditForm>}
      <Members of={`team ${team.name}`} load={() => api.teamMembers(team.id)} roles={TEAM_ROLES} defaultRole="member" writable={writable}
        put={(userId, role) => api.putTeamMember(team.id, userId, role)} remove={(userId) => api.removeTeamMember(team.id, userId)}
        history={(member) => `#/history?entity=teamMember&entityId=${team.id}:${member.userId}`} />
      {writable && <DeleteStep what={`team ${team.name}`} name={team.name} consequence="Its memberships go with it."
        remove={() => api.deleteTeam(team.id)} done={() => changed(`Team ${team.name} deleted.`)} />}
    </div>
  );
}

export function OrganizationDetail({ id }: { id: number }) {
  const state = useAsync(() => Promise.all([api.organization(id), api.teams(id), api.projects({ organizationId: id, limit: 100 })]), [id]);
  const writable = useWritable();
  const [saved, setSaved] = useState('');
  const [round, setRound] = useState(0);
  const rename = useSubmit((form) => api.updateOrganization(id, nameBody(form)), async (_, form) => {
    await redrawSaved(form, state);
    setSaved('Organization saved.');
    setRound((n) => n + 1);
  });
  const teamChanged = async (what: string, form?: HTMLFormElement) => {
    await (form ? redrawSaved(form, state) : state.redraw());
    setSaved(what);
  };
  const newTeam = useSubmit((form) => api.createTeam(id, nameBody(form)), async ({ data }, form) => {
    await redrawSaved(form, state);
    setSaved(`Team ${data.name} created.`);
  });
  return (
    <section aria-labelledby="organization-title">
      <p><a href="#/organizations">← Organizations</a></p>
      <Async state={state} what="the organization">
        {([{ data: organization }, teams, projects]) => (
          <>
            <h2 id="organization-title">{organization.name} <span class="muted">#{organization.id}</span></h2>
            {writable && (
              <div class="grid">
                <EditForm label="rename organization" submit={rename} action="Save"><h3>Name</h3><NameFields row={organization} /></EditForm>
                <EditForm label="new team" submit={newTeam} action="Create team" busyAction="Creating…"><h3>New team</h3><NameFields /></EditForm>
              </div>
            )}
            {saved && <p role="status" class="saved">{saved}</p>}
            <h3>Teams and members</h3>
            {teams.data.length === 0 ? <Empty>No team in this organization.</Empty> : teams.data.map((team) => <TeamPanel key={team.id} team={team} writable={writable} changed={teamChanged} />)}
            <h3>Projects</h3>
            <Table caption="projects of the organization" rows={projects.data} empty="No project in this organization."
              columns={[{ label: 'Project', cell: (row) => <a href={`#/projects/${row.id}`}>{row.name}</a> }, { label: 'Status', cell: (row) => row.status }]} />
            <h3>Change history</h3>
            <HistoryList key={round} entity="organization" entityId={id} />
            {writable && <DeleteStep what="organization" name={organization.name} consequence="Its teams and their memberships go with it; its projects stay, with no organization."
              remove={() => api.deleteOrganization(id)} done={() => navigate('/organizations')} />}
          </>
        )}
      </Async>
    </section>
  );
}

function ProjectFields({ project, organizations }: { project?: { name: string; slug: string; status: string; description?: unknown }; organizations?: Organization[] }) {
  return (
    <>
      <NameFields row={project} />
      <label>Status <select name="status">{PROJECT_STATUSES.map((status) => <option value={status} defaultSelected={status === (project?.status ?? 'planned')}>{status}</option>)}</select></label>
      {organizations && (
        <label>Organization <select name="organizationId">
          <option value="">none</option>
          {organizations.map((organization) => <option value={organization.id}>{organization.name}</option>)}
        </select></label>
      )}
      <label class="wide">Description <textarea name="description" rows={2} defaultValue={typeof project?.description === 'string' ? project.description : ''} /></label>
    </>
  );
}

const projectBody = (form: FormData) => ({
  ...nameBody(form), status: text(form, 'status'), ...(optionalText(form, 'description') ? { description: text(form, 'description') } : {}),
});

export function Projects({ params }: { params: Record<string, string> }) {
  const state = useAsync(() => api.projects({ status: params.status, limit: 50, cursor: params.cursor }), [params.status, params.cursor]);
  const writable = useWritable();
  const creator = useCreator<{ id: number; name: string }>();
  const organizations = useAsync(() => (creator.open ? api.organizations({ limit: 200 }) : Promise.resolve(null)), [creator.open]);
  const create = useSubmit((form) => api.createProject({
    ...projectBody(form), ...(text(form, 'organizationId') ? { organizationId: Number(text(form, 'organizationId')) } : {}),
  }), ({ data }) => { creator.setOpen(false); creator.setCreated(data); state.reload(); });
  return (
    <section aria-labelledby="projects-title">
      <h2 id="projects-title">Projects</h2>
      <div class="toolbar">
        <label>Status <select value={params.status ?? ''} onChange={(event) => navigate('/projects', { status: event.currentTarget.value })}>
          {['', ...PROJECT_STATUSES].map((status) => <option value={status}>{status || 'any'}</option>)}
        </select></label>
        {writable && <button type="button" aria-expanded={creator.open} onClick={() => creator.setOpen(!creator.open)}>New project</button>}
      </div>
      {writable && creator.open && (
        <EditForm label="new project" submit={create} action="Create project" busyAction="Creating…">
          <ProjectFields organizations={organizations.data?.data ?? []} />
        </EditForm>
      )}
      {creator.created && <p role="status" class="saved">Created <a href={`#/projects/${creator.created.id}`}>{creator.created.name}</a>.</p>}
      <PagedTable state={state} what="projects" caption="projects" empty="No project matches."
        columns={[
          { label: 'Name', cell: (row) => <a href={`#/projects/${row.id}`}>{row.name}</a> },
          { label: 'Status', cell: (row) => row.status },
          { label: 'Organization', cell: (row) => (row.organizationId ? <a href={`#/organizations/${row.organizationId}`}>#{row.organizationId}</a> : '–') },
        ]}
        cursor={params.cursor} go={(cursor) => navigate('/projects', { status: params.status, cursor })} />
    </section>
  );
}

export function ProjectDetail({ id }: { id: number }) {
  const state = useAsync(() => api.project(id), [id]);
  const writable = useWritable();
  const [saved, setSaved] = useState('');
  const [round, setRound] = useState(0);
  const edit = useSubmit((form) => api.updateProject(id, projectBody(form)), async (_, form) => {
    await redrawSaved(form, state);
    setSaved('Project saved.');
    setRound((n) => n + 1);
  });
  return (
    <section aria-labelledby="project-title">
      <p><a href="#/projects">← Projects</a></p>
      <Async state={state} what="the project">
        {({ data: project }) => (
          <>
            <h2 id="project-title">{project.name} <span class="muted">#{project.id}, {project.status}</span></h2>
            {writable && <EditForm label="edit project" submit={edit} action="Save"><h3>Details</h3><ProjectFields project={project} /></EditForm>}
            {saved && <p role="status" class="saved">{saved}</p>}
            <h3>Members</h3>
            <Members of={`project ${project.name}`} load={() => api.projectMembers(id)} roles={PROJECT_ROLES} defaultRole="editor" writable={writable}
              put={(userId, role) => api.putProjectMember(id, userId, role)} remove={(userId) => api.removeProjectMember(id, userId)} />
            <h3>Change history</h3>
            <HistoryList key={round} entity="project" entityId={id} />
            {writable && <DeleteStep what="project" name={project.name} consequence="Its memberships go with it."
              remove={() => api.deleteProject(id)} done={() => navigate('/projects')} />}
          </>
        )}
      </Async>
    </section>
  );
}
