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
import { Widget } from '@lumino/widgets';

import { mlopsIcon } from './components/common/icon';
import { CompareWidget } from './components/compare/CompareView';
import { MlopsPanel } from './components/panel/MlopsPanel';
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
  palette: ICommandPalette | null
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

  const panel = new MlopsPanel({ openRun, compare });
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

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Browse, compare and trace MLflow runs, promote models, see releases and schedule notebooks.',
  autoStart: true,
  requires: [ILabShell],
  optional: [IDocumentManager, ILayoutRestorer, ICommandPalette],
  activate
};

export default plugin;
