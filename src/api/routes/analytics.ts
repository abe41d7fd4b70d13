import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { createReport } from '../../services/reports.js';
import {
  activeUsersQuery, metricsQuery, reportInput, reportKinds, retentionQuery,
} from '../../models/analytics.js';
import { AnalyticsRepository } from '../../repositories/analytics-repository.js';
import {
  decodeCursor, idCursor, idParams, page, pageQuery, toApi,
} from '../http.js';
import { callerTenant } from '../auth.js';
import type { App, RouteOptions } from '../types.js';

const reportListQuery = z.strictObject({ kind: z.enum(reportKinds).optional(), ...pageQuery });

/**
 * Read-only analytics built by the ETL pipeline, and the tenant's reports. Every answer names the
 * etl_run ids it came from (`etlRunIds`), so a number can be traced to the rows it counted.
 */
export async function analyticsRoutes(app: App, _options: RouteOptions): Promise<void> {
  const tags = ['analytics'];
  // The summaries go through the query cache, keyed by their parsed query: a URL the response cache
  // has not seen (other parameter order, other encoding) still finds the summary loaded.
  const summary = <T>(request: FastifyRequest, name: string, read: (repository: AnalyticsRepository) => Promise<{ rows: T; etlRunIds: number[] }>) =>
    app.caches.query.analyticsSummary(callerTenant(request), name, request.query, async () => {
      const { rows, etlRunIds } = await request.inTenant((trx) => read(new AnalyticsRepository(trx)));
      return { data: rows, etlRunIds };
    });

  app.get('/analytics/metrics', {
    schema: { tags, summary: 'A daily metric summed per day, week or month (UTC), per dimension', querystring: metricsQuery },
  }, async (request) => {
    return summary(request, 'metrics', (repository) => repository.metricSeries(request.query));
  });

  app.get('/analytics/active-users', {
    schema: { tags, summary: 'Daily, weekly and monthly active users (DAU/WAU/MAU) for each day of a range', querystring: activeUsersQuery },
  }, async (request) => {
    return summary(request, 'active-users', (repository) => repository.activeUsers(request.query));
  });

  app.get('/analytics/retention', {
    schema: { tags, summary: 'Weekly retention cohorts starting from the week of `from`', querystring: retentionQuery },
  }, async (request) => {
    return summary(request, 'retention', (repository) => repository.retention(request.query));
  });

  app.get('/reports', { schema: { tags, summary: 'List reports, newest first', querystring: reportListQuery } }, async (request) => {
    const { kind, limit, cursor } = request.query;
    const rows = await request.inTenant((trx) => new AnalyticsRepository(trx)
      .listReports({ kind, beforeId: decodeCursor(cursor, idCursor), limit }));
    return page(rows, limit, (row) => row.id);
  });

  app.get('/reports/:id', { schema: { tags, summary: 'Get a report with its body', params: idParams } }, async (request) => {
    const report = await request.inTenant((trx) => new AnalyticsRepository(trx).getReport(request.params.id));
    return { data: toApi(report) };
  });

  app.post('/reports', {
    schema: { tags, summary: 'Generate and store a weekly activity or retention cohort report', body: reportInput },
  }, async (request, reply) => {
    const report = await request.inTenant((trx) => createReport(trx, request.body));
    return reply.status(201).send({ data: toApi(report) });
  });
}
