/**
 * The "MLOps" left-sidebar panel: experiments → runs → compare / run detail with lineage.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import type { DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import type { PartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { mlopsIcon } from './components/common/icon';
import { OutlineWidget } from './components/common/OutlinePage';
import { CompareWidget } from './components/compare/CompareView';
import { MlopsPanel } from './components/panel/MlopsPanel';
import { PipelineView } from './components/pipeline/PipelineView';
import type { ColumnStore } from './components/runs/ColumnChooser';
import { SweepView } from './components/sweep/SweepView';
import { RunDetailWidget } from './components/run/RunDetail';
import { ScheduleNotebookWidget } from './components/schedule-notebook/ScheduleNotebook';

const PLUGIN_ID = 'mlops-nb:plugin';

namespace CommandIDs {
  export const open = 'mlops-nb:open';
  export const refresh = 'mlops-nb:refresh';
  export const scheduleNotebook = 'mlops-nb:schedule-notebook';
}

function activate(
  app: JupyterFrontEnd,
  labShell: ILabShell,
  docManager: IDocumentManager | null,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null
): void {
  const addToMain = (content: Widget, id: string, label: string): void => {
    const widget = new MainAreaWidget({ content });
    widget.id = id;
    widget.title.label = label;
    widget.title.icon = mlopsIcon;
    widget.title.closable = true;
    labShell.add(widget, 'main');
    labShell.activateById(id);
  };

  const openFile = (path: string): void => {
    if (docManager) {
      docManager.openOrReveal(path);
    } else {
      void app.commands.execute('docmanager:open', { path });
    }
  };

  /** One tab per run: opening a run again shows its tab. */
  const openRun = (runId: string, name: string): void => {
    const id = `mlops-nb-run-${runId}`;
    if (Array.from(labShell.widgets('main')).some(w => w.id === id)) {
      labShell.activateById(id);
      return;
    }
    addToMain(new RunDetailWidget({ runId, openRun, openFile }), id, `Run ${name}`);
  };

  let compared = 0;
  const compare = (runIds: string[]): void => {
    compared += 1;
    addToMain(new CompareWidget({ runIds, openRun }), `mlops-nb-compare-${compared}`, `Compare ${runIds.length} runs`);
  };

  /** One tab per pipeline run or sweep page. */
  const openOutline = (kind: 'pipeline' | 'sweep', runId: string, name: string): void => {
    const id = `mlops-nb-${kind}-${runId}`;
    if (Array.from(labShell.widgets('main')).some(w => w.id === id)) {
      labShell.activateById(id);
      return;
    }
    const options = { runId, openRun, openPipeline };
    const content = new OutlineWidget(kind === 'pipeline' ? PipelineView : SweepView, options);
    addToMain(content, id, `${kind === 'pipeline' ? 'Pipeline' : 'Sweep'} ${name}`);
  };
  const openPipeline = (runId: string, name: string): void => openOutline('pipeline', runId, name);
  const openSweep = (runId: string, name: string): void => openOutline('sweep', runId, name);

  const columnStore = settingsColumnStore(settingRegistry);
  const panel = new MlopsPanel({ openRun, openPipeline, openSweep, compare, columnStore: columnStore.store });
  void columnStore.ready.then(() => panel.update());
  panel.id = 'mlops-nb-panel';
  panel.title.icon = mlopsIcon;
  panel.title.caption = 'MLOps: experiments and runs';
  labShell.add(panel, 'left', { rank: 600 });
  restorer?.add(panel, PLUGIN_ID);

  app.commands.addCommand(CommandIDs.open, {
    label: 'Open the MLOps panel',
    execute: () => labShell.activateById(panel.id)
  });
  app.commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh the MLOps panel',
    execute: () => panel.refresh()
  });
  let scheduled = 0;
  const scheduleNotebook = (path: string): void => {
    scheduled += 1;
    const onCreated = (): void => {
      panel.showSection('schedules');
      panel.refresh();
      labShell.activateById(panel.id);
    };
    addToMain(new ScheduleNotebookWidget({ notebook: path, onCreated }), `mlops-nb-schedule-${scheduled}`, 'Schedule notebook');
  };
  app.commands.addCommand(CommandIDs.scheduleNotebook, {
    label: 'Schedule this notebook',
    execute: args => scheduleNotebook(String(args.path ?? ''))
  });
  // "Schedule" in every notebook's toolbar, like jupyter-scheduler's "Create a notebook job".
  const toolbarButton: DocumentRegistry.IWidgetExtension<DocumentWidget, DocumentRegistry.IModel> = {
    createNew: (widget, context) => {
      const button = new ToolbarButton({
        className: 'mlops-nb-schedule-button',
        icon: mlopsIcon,
        label: 'Schedule',
        tooltip: 'Schedule this notebook (MLOps)',
        onClick: () => scheduleNotebook(context.path)
      });
      widget.toolbar.insertItem(10, 'mlops-nb-schedule', button);
      return button;
    }
  };
  app.docRegistry.addWidgetExtension('Notebook', toolbarButton);

  palette?.addItem({ command: CommandIDs.open, category: 'MLOps' });
  palette?.addItem({ command: CommandIDs.refresh, category: 'MLOps' });
}

/** The runs table's column choice in the extension's settings (`runColumns`: experiment name → column ids). */
function settingsColumnStore(registry: ISettingRegistry | null): { store: ColumnStore; ready: Promise<void> } {
  let settings: ISettingRegistry.ISettings | null = null;
  const choices = (): Record<string, string[]> =>
    (settings?.get('runColumns').composite as Record<string, string[]> | undefined) ?? {};
  const ready = registry
    ? registry.load(PLUGIN_ID).then(
        loaded => {
          settings = loaded;
        },
        (reason: unknown) => console.warn('mlops-nb: the settings did not load; column choices are not saved', reason)
      )
    : Promise.resolve();
  const store: ColumnStore = {
    get: experiment => choices()[experiment] ?? null,
    set: async (experiment, ids) => {
      if (!settings) {
        return;
      }
      const next = { ...choices() };
      if (ids === null) {
        delete next[experiment];
      } else {
        next[experiment] = ids;
      }
      await settings.set('runColumns', next as PartialJSONObject);
    }
  };
  return { store, ready };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Browse, compare and trace MLflow runs, promote models, see releases and schedule notebooks.',
  autoStart: true,
  requires: [ILabShell],
  optional: [IDocumentManager, ILayoutRestorer, ICommandPalette, ISettingRegistry],
  activate
};

export default plugin;
