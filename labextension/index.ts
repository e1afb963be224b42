/**
 * The "MLOps" left-sidebar panel: experiments → runs → compare / run detail with lineage.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { Widget } from '@lumino/widgets';

import { mlopsIcon } from './components/common/icon';
import { CompareWidget } from './components/compare/CompareView';
import { MlopsPanel } from './components/panel/MlopsPanel';
import { RunDetailWidget } from './components/run/RunDetail';

const PLUGIN_ID = 'mlops-nb:plugin';

namespace CommandIDs {
  export const open = 'mlops-nb:open';
  export const refresh = 'mlops-nb:refresh';
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
  palette?.addItem({ command: CommandIDs.open, category: 'MLOps' });
  palette?.addItem({ command: CommandIDs.refresh, category: 'MLOps' });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Browse, compare and trace MLflow runs recorded by mlops_nb.',
  autoStart: true,
  requires: [ILabShell],
  optional: [IDocumentManager, ILayoutRestorer, ICommandPalette],
  activate
};

export default plugin;
