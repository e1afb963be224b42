/**
 * The one way the front end talks to the server extension (`/mlops-nb/api/...`).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type {
  ApiError,
  CompareRequest,
  Comparison,
  CreateSchedule,
  CreatedSchedule,
  DatasetList,
  DatasetVersionDetail,
  EnvReason,
  ExperimentList,
  LineageGraph,
  ModelList,
  ModelVersionDetail,
  MonitoringView,
  MoveResult,
  NotebookPipelines,
  PipelineOutline,
  PromoteRequest,
  ReleaseList,
  ReproduceRequest,
  ReproductionJob,
  ReproductionJobList,
  RunDetail,
  RunsPage,
  RunsQuery,
  ScheduleAction,
  ScheduleActionResult,
  ScheduleHistory,
  ScheduleList,
  Settings,
  Snapshot,
  SweepOutline,
  WritePipeline,
  WrittenPipeline
} from './types';

/** An error answered by the server extension, with its message and hint. */
export class MlopsApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError
  ) {
    super(body.hint ? `${body.message} (${body.hint})` : body.message);
    this.name = body.error;
  }
}

type Query = Record<string, string | number | string[] | undefined>;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === '') {
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      params.append(key, String(item));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/**
 * Call `/mlops-nb/api/<endpoint>` with the server's authentication and parse its JSON answer.
 * Throws `MlopsApiError` for an error answer and `ServerConnection.NetworkError` when unreachable.
 */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  query: Query = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'mlops-nb', 'api', endpoint) + queryString(query);
  // 'no-cache' revalidates every answer without ServerConnection's `?<timestamp>` cache buster,
  // which the server would refuse as an unknown query parameter.
  const response = await ServerConnection.makeRequest(url, { cache: 'no-cache', ...init }, settings);
  const text = await response.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: 'InvalidResponse', message: text.slice(0, 500) };
    }
  }
  if (!response.ok) {
    const error =
      body && typeof body === 'object' && 'message' in body
        ? (body as ApiError)
        : { error: 'HTTPError', message: `${response.status} ${response.statusText}` };
    throw new MlopsApiError(response.status, error);
  }
  return body as T;
}

const id = encodeURIComponent;

const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });

export const api = {
  settings: (): Promise<Settings> => requestAPI<Settings>('settings'),
  experiments: (): Promise<ExperimentList> => requestAPI<ExperimentList>('experiments'),
  /** The runs table's page at `offset` (any page directly; `top_level` / `parent` for the tree). */
  runsTable: (experimentId: string, query: RunsQuery & { offset: number }): Promise<RunsPage> => {
    const { top_level: topLevel, ...rest } = query;
    return requestAPI<RunsPage>(`experiments/${id(experimentId)}/runs`, {}, { ...rest, top_level: topLevel ? 'true' : undefined });
  },
  pipelineOutline: (runId: string): Promise<PipelineOutline> =>
    requestAPI<PipelineOutline>(`runs/${id(runId)}/pipeline`),
  sweepOutline: (runId: string): Promise<SweepOutline> => requestAPI<SweepOutline>(`runs/${id(runId)}/sweep`),
  run: (runId: string): Promise<RunDetail> => requestAPI<RunDetail>(`runs/${id(runId)}`),
  compare: (request: CompareRequest): Promise<Comparison> =>
    requestAPI<Comparison>('compare', { method: 'POST', body: JSON.stringify(request) }),
  snapshot: (runId: string): Promise<Snapshot> =>
    requestAPI<Snapshot>(`runs/${id(runId)}/snapshot`, { method: 'POST' }),
  runLineage: (runId: string): Promise<LineageGraph> =>
    requestAPI<LineageGraph>(`lineage/runs/${id(runId)}`),
  modelVersionLineage: (name: string, version: string): Promise<LineageGraph> =>
    requestAPI<LineageGraph>(`lineage/models/${id(name)}/versions/${id(version)}`),
  models: (): Promise<ModelList> => requestAPI<ModelList>('models'),
  modelVersion: (name: string, version: string, checkGates = false, env?: string): Promise<ModelVersionDetail> =>
    requestAPI<ModelVersionDetail>(
      `models/${id(name)}/versions/${id(version)}`,
      {},
      checkGates ? { gates: 'true', env } : {}
    ),
  monitoring: (name: string, version: string): Promise<MonitoringView> =>
    requestAPI<MonitoringView>(`models/${id(name)}/versions/${id(version)}/monitoring`),
  promote: (name: string, version: string, request: PromoteRequest): Promise<MoveResult> =>
    requestAPI<MoveResult>(`models/${id(name)}/versions/${id(version)}/promote`, post(request)),
  approve: (name: string, version: string, request: EnvReason): Promise<MoveResult> =>
    requestAPI<MoveResult>(`models/${id(name)}/versions/${id(version)}/approve`, post(request)),
  rollback: (name: string, request: EnvReason): Promise<MoveResult> =>
    requestAPI<MoveResult>(`models/${id(name)}/rollback`, post(request)),
  releases: (pipeline?: string): Promise<ReleaseList> => requestAPI<ReleaseList>('releases', {}, { pipeline }),
  schedules: (): Promise<ScheduleList> => requestAPI<ScheduleList>('schedules'),
  createSchedule: (request: CreateSchedule): Promise<CreatedSchedule> =>
    requestAPI<CreatedSchedule>('schedules', post(request)),
  scheduleHistory: (scheduleId: string): Promise<ScheduleHistory> =>
    requestAPI<ScheduleHistory>(`schedules/${id(scheduleId)}/history`),
  scheduleAction: (scheduleId: string, action: ScheduleAction): Promise<ScheduleActionResult> =>
    requestAPI<ScheduleActionResult>(`schedules/${id(scheduleId)}/${action}`, post({})),
  notebookPipelines: (notebook: string): Promise<NotebookPipelines> =>
    requestAPI<NotebookPipelines>('notebook-pipelines', {}, { notebook }),
  writePipeline: (request: WritePipeline): Promise<WrittenPipeline> =>
    requestAPI<WrittenPipeline>('notebook-pipelines', post(request)),
  datasets: (): Promise<DatasetList> => requestAPI<DatasetList>('datasets'),
  datasetVersion: (name: string, version: number): Promise<DatasetVersionDetail> =>
    requestAPI<DatasetVersionDetail>(`datasets/${id(name)}/versions/${version}`),
  reproduceModelVersion: (name: string, version: string, request: ReproduceRequest = {}): Promise<ReproductionJob> =>
    requestAPI<ReproductionJob>(`models/${id(name)}/versions/${id(version)}/reproduce`, post(request)),
  reproduceRun: (runId: string, request: ReproduceRequest = {}): Promise<ReproductionJob> =>
    requestAPI<ReproductionJob>(`runs/${id(runId)}/reproduce`, post(request)),
  reproductions: (): Promise<ReproductionJobList> => requestAPI<ReproductionJobList>('reproductions'),
  /** The job's state; the server holds the answer up to `wait` seconds while it runs. */
  reproduction: (jobId: string, wait = 0): Promise<ReproductionJob> =>
    requestAPI<ReproductionJob>(`reproductions/${id(jobId)}`, {}, wait ? { wait } : {})
};
