/**
 * Short names for the REST contract's types. The types themselves are generated from api/openapi.yaml
 * into api-types.ts (`jlpm generate:types`; `jlpm check:types` fails when the two differ): change the
 * contract, not these aliases.
 */
import type { components, operations } from './api-types';

type Schemas = components['schemas'];

/** The contract's `Error` (renamed: it would shadow the global `Error`). */
export type ApiError = Schemas['Error'];
/** The contract's `Warning` (renamed: it would shadow the global `Warning`). */
export type RunWarning = Schemas['Warning'];

export type Settings = Schemas['Settings'];
export type RunStatus = Schemas['RunStatus'];
export type Experiment = Schemas['Experiment'];
export type ExperimentList = Schemas['ExperimentList'];
export type RunRow = Schemas['RunRow'];
export type RunsPage = Schemas['RunsPage'];
export type RunColumns = RunsPage['columns'];
export type PipelineOutline = Schemas['PipelineOutline'];
export type PipelineStep = Schemas['PipelineStep'];
export type SweepOutline = Schemas['SweepOutline'];
export type SweepPoint = Schemas['SweepPoint'];
export type RegisteredVersion = Schemas['RegisteredVersion'];
export type MetricPoint = Schemas['MetricPoint'];
export type MetricHistory = Schemas['MetricHistory'];
export type ColumnStats = Schemas['ColumnStats'];
export type Split = Schemas['Split'];
export type CodeVersion = Schemas['CodeVersion'];
export type ModelVersionRef = Schemas['ModelVersionRef'];
export type RunDetail = Schemas['RunDetail'];
export type CompareRequest = Schemas['CompareRequest'];
export type ParamRow = Schemas['ParamRow'];
export type MetricSummary = Schemas['MetricSummary'];
export type MetricComparison = Schemas['MetricComparison'];
export type Comparison = Schemas['Comparison'];
export type Snapshot = Schemas['Snapshot'];
export type LineageNode = Schemas['LineageNode'];
export type LineageNodeType = LineageNode['type'];
export type LineageEdge = Schemas['LineageEdge'];
export type LineageGraph = Schemas['LineageGraph'];

/** The query parameters of `GET /experiments/{experiment_id}/runs`. */
export type RunsQuery = NonNullable<operations['listRuns']['parameters']['query']>;

export type Alias = Schemas['Alias'];
export type RecordedGate = Schemas['RecordedGate'];
export type Gate = Schemas['Gate'];
export type Move = Schemas['Move'];
export type ModelVersionRow = Schemas['ModelVersionRow'];
export type Model = Schemas['Model'];
export type ModelList = Schemas['ModelList'];
export type ModelGateCheck = Schemas['ModelGateCheck'];
export type ModelGateReport = Schemas['ModelGateReport'];
export type ModelVersionDetail = Schemas['ModelVersionDetail'];
export type PromoteRequest = Schemas['PromoteRequest'];
export type EnvReason = Schemas['EnvReason'];
export type MoveResult = Schemas['MoveResult'];
export type ModelHistory = Schemas['ModelHistory'];
export type Release = Schemas['Release'];
export type ReleaseEnvironment = Schemas['ReleaseEnvironment'];
export type ReleaseList = Schemas['ReleaseList'];
export type Firing = Schemas['Firing'];
export type Schedule = Schemas['Schedule'];
export type ScheduleList = Schemas['ScheduleList'];
export type CreateSchedule = Schemas['CreateSchedule'];
export type CreatedSchedule = Schemas['CreatedSchedule'];
export type ScheduleHistory = Schemas['ScheduleHistory'];
export type ScheduleActionResult = Schemas['ScheduleActionResult'];
export type ScheduleAction = operations['scheduleAction']['parameters']['path']['action'];
export type NotebookPipelines = Schemas['NotebookPipelines'];
export type WritePipeline = Schemas['WritePipeline'];
export type WrittenPipeline = Schemas['WrittenPipeline'];
export type DatasetVersionRow = Schemas['DatasetVersionRow'];
export type Dataset = Schemas['Dataset'];
export type DatasetList = Schemas['DatasetList'];
export type DatasetVersionDetail = Schemas['DatasetVersionDetail'];
export type ReproductionVerdict = Schemas['ReproductionVerdict'];
export type DeployCheck = Schemas['DeployCheck'];
export type ReproduceRequest = Schemas['ReproduceRequest'];
export type MetricReproduction = Schemas['MetricReproduction'];
export type Reproduction = Schemas['Reproduction'];
export type ReproductionJob = Schemas['ReproductionJob'];
export type ReproductionJobList = Schemas['ReproductionJobList'];
export type MonitoringCheck = Schemas['MonitoringCheck'];
export type MonitoringResult = Schemas['MonitoringResult'];
export type MonitoringTrigger = Schemas['MonitoringTrigger'];
export type MonitoringView = Schemas['MonitoringView'];
export type RunError = NonNullable<Schemas['RunError']>;
export type DataGateCheck = Schemas['DataGateCheck'];
export type DataGateReport = Schemas['DataGateReport'];
export type StepModelGateReport = Schemas['StepModelGateReport'];
export type Registration = NonNullable<Schemas['Registration']>;
export type ArtifactEntry = Schemas['ArtifactEntry'];
export type ArtifactList = Schemas['ArtifactList'];
export type MetricData = NonNullable<Schemas['MetricData']>;
export type ChartDefaults = Schemas['ChartDefaults'];
