import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { api } from '../../api';
import type { Experiment } from '../../types';
import { useAsync } from '../common/hooks';
import { DatasetsView } from '../datasets/DatasetsView';
import { ExperimentsList } from '../experiments/ExperimentsList';
import { ModelsView } from '../models/ModelsView';
import { ReleasesView } from '../releases/ReleasesView';
import type { ColumnStore } from '../runs/ColumnChooser';
import { RunsTable } from '../runs/RunsTable';
import { SchedulesView } from '../schedules/SchedulesView';

export type PanelSection = 'experiments' | 'models' | 'datasets' | 'releases' | 'schedules';
const SECTIONS: PanelSection[] = ['experiments', 'models', 'datasets', 'releases', 'schedules'];

export interface PanelActions {
  /** Open a run's detail view in the main area. */
  openRun: (runId: string, name: string) => void;
  /** Open a pipeline run's page (its steps and their outputs). */
  openPipeline: (runId: string, name: string) => void;
  /** Open a sweep's page (its points ranked, the best one marked). */
  openSweep: (runId: string, name: string) => void;
  /** Open the compare view for these runs in the main area. */
  compare: (runIds: string[]) => void;
  /** Where the runs table's column choice is saved. */
  columnStore: ColumnStore;
}

function Panel(
  props: PanelActions & { refreshKey: number; section: PanelSection; setSection: (s: PanelSection) => void }
): JSX.Element {
  const [experiment, setExperiment] = React.useState<Experiment | null>(null);
  const settings = useAsync(() => api.settings(), []);
  const { section } = props;
  return (
    <div className="mlops-nb-panel-body">
      <div className="mlops-nb-panel-header">
        <span className="mlops-nb-panel-title">MLOps</span>
        {section === 'experiments' && experiment ? (
          <button className="mlops-nb-link mlops-nb-back" onClick={() => setExperiment(null)}>
            ← Experiments
          </button>
        ) : null}
      </div>
      <div className="mlops-nb-tabs" role="tablist">
        {SECTIONS.map(name => (
          <button
            key={name}
            role="tab"
            aria-selected={section === name}
            className={`mlops-nb-tab${section === name ? ' mlops-nb-active' : ''}`}
            data-section={name}
            onClick={() => props.setSection(name)}
          >
            {name[0].toUpperCase() + name.slice(1)}
          </button>
        ))}
      </div>
      {section === 'models' ? <ModelsView refreshKey={props.refreshKey} environments={[]} openRun={props.openRun} /> : null}
      {section === 'datasets' ? <DatasetsView refreshKey={props.refreshKey} /> : null}
      {section === 'releases' ? <ReleasesView refreshKey={props.refreshKey} openRun={props.openRun} /> : null}
      {section === 'schedules' ? <SchedulesView refreshKey={props.refreshKey} openRun={props.openRun} /> : null}
      {section !== 'experiments' ? null : experiment ? (
        <RunsTable
          key={experiment.experiment_id}
          experiment={experiment}
          refreshKey={props.refreshKey}
          openRun={props.openRun}
          openPipeline={props.openPipeline}
          openSweep={props.openSweep}
          compare={props.compare}
          columnStore={props.columnStore}
        />
      ) : (
        <ExperimentsList refreshKey={props.refreshKey} onSelect={setExperiment} />
      )}
      <div className="mlops-nb-panel-footer" title="The MLflow store this server reads">
        {settings.value ? `store: ${settings.value.tracking_uri}` : (settings.error ?? '')}
      </div>
    </div>
  );
}

/** The left-sidebar widget; `refresh()` reloads whatever it shows. */
export class MlopsPanel extends ReactWidget {
  private _refreshKey = 0;
  private _section: PanelSection = 'experiments';

  constructor(private readonly _actions: PanelActions) {
    super();
    this.addClass('mlops-nb-panel');
  }

  refresh(): void {
    this._refreshKey += 1;
    this.update();
  }

  /** Show one of the panel's sections (experiments, models, datasets, releases, schedules). */
  showSection(section: PanelSection): void {
    this._section = section;
    this.update();
  }

  protected render(): JSX.Element {
    return (
      <Panel
        {...this._actions}
        refreshKey={this._refreshKey}
        section={this._section}
        setSection={section => this.showSection(section)}
      />
    );
  }
}
