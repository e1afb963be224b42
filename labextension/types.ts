/**
 * Types of the server extension's REST contract (api/openapi.yaml), mirrored one to one.
 */

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface ApiError {
  error: string;
  message: string;
  hint?: string | null;
}

export interface Settings {
  tracking_uri: string;
  embedded: boolean;
  ui_url: string | null;
  experiment: string | null;
  version: string;
}

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  run_count: number;
  active_run_count: number;
  creation_time: number | null;
  last_update_time: number | null;
  last_run_start_time?: number | null;
  tags: Record<string, string>;
  ui_url?: string | null;
}

export interface ExperimentList {
  experiments: Experiment[];
}

export interface RunWarning {
  code: string;
  message: string;
}

export interface RunRow {
  run_id: string;
  run_name: string;
  experiment_id: string;
  status: RunStatus;
  start_time: number | null;
  end_time: number | null;
  duration_ms: number | null;
  mode: 'interactive' | 'pipeline' | null;
  parent_run_id?: string | null;
  notebook_path?: string | null;
  git_commit?: string | null;
  params: Record<string, string>;
  metrics: Record<string, number | null>;
  warnings: RunWarning[];
}

export interface RunsPage {
  experiment_id: string;
  runs: RunRow[];
  next_page_token: string | null;
  total_count?: number | null;
  columns: { params: string[]; metrics: string[] };
}

export interface RunsQuery {
  filter?: string;
  order_by?: string[];
  page_token?: string;
  max_results?: number;
  status?: RunStatus;
}

export interface MetricPoint {
  step: number;
  value: number | null;
  timestamp: number;
}

export interface ColumnStats {
  kind: 'numeric' | 'categorical' | 'boolean' | 'datetime';
  count?: number;
  missing?: number;
  missing_rate?: number;
  mean?: number | null;
  std?: number | null;
  min?: number | string | null;
  max?: number | string | null;
  quantiles?: Record<string, number>;
  percentiles?: number[];
  histogram?: { edges: number[]; counts: number[] };
  cardinality?: number;
  top?: { value: string; count: number; frequency: number }[];
  other_frequency?: number;
}

export interface Split {
  name: string;
  context: string | null;
  digest: string | null;
  type: string | null;
  num_rows: number | null;
  num_columns: number | null;
  seed: number | null;
  schema: { name: string; dtype: string; kind: string }[];
  columns: Record<string, ColumnStats>;
  artifact_path?: string | null;
}

export interface CodeVersion {
  git_commit: string | null;
  git_branch?: string | null;
  git_repo_url?: string | null;
  git_dirty: boolean | null;
  git_diff_path?: string | null;
  notebook_path: string | null;
  notebook_hash: string | null;
  snapshot_path: string | null;
  execution_order?: 'in_order' | 'out_of_order' | null;
}

export interface ModelVersionRef {
  name: string;
  version: string;
  aliases?: string[];
  status?: string | null;
}

export interface RunDetail extends RunRow {
  experiment_name?: string | null;
  lifecycle_stage: string;
  artifact_uri: string;
  tags: Record<string, string>;
  metric_histories: Record<string, MetricPoint[]>;
  splits: Split[];
  code: CodeVersion;
  pipeline_run_id?: string | null;
  child_run_ids: string[];
  model_versions: ModelVersionRef[];
  links: { mlflow_ui: string | null };
}

export interface CompareRequest {
  run_ids: string[];
  metrics?: string[];
  diff_only?: boolean;
  histories?: boolean;
}

export interface ParamRow {
  key: string;
  values: (string | null)[];
  differs: boolean;
}

export interface MetricSummary {
  run_id: string;
  last: number | null;
  min: number | null;
  max: number | null;
  mean: number | null;
  count: number;
  last_step: number | null;
}

export interface MetricComparison {
  key: string;
  steps: number[];
  series: { run_id: string; values: (number | null)[] }[];
  summary: MetricSummary[];
  best_run_id?: string | null;
}

export interface Comparison {
  runs: RunRow[];
  diff_only: boolean;
  params: ParamRow[];
  metrics: MetricComparison[];
}

export interface Snapshot {
  run_id: string;
  path: string;
}

export type LineageNodeType =
  | 'model_version'
  | 'run'
  | 'pipeline_run'
  | 'dataset'
  | 'notebook'
  | 'commit';

export interface LineageNode {
  id: string;
  type: LineageNodeType;
  label: string;
  data: Record<string, unknown>;
}

export interface LineageEdge {
  source: string;
  target: string;
  relation: 'produced_by' | 'used_data' | 'ran_notebook' | 'at_commit' | 'step_of';
}

export interface LineageGraph {
  root: string;
  nodes: LineageNode[];
  edges: LineageEdge[];
}
