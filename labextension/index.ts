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
  const openInMain = (widget: MainAreaWidget, id: string): void => {
    const existing = Array.from(labShell.widgets('main')).find(w => w.id === id);
    if (existing) {
      widget.dispose();
      labShell.activateById(id);
      return;
    }
    widget.id = id;
    labShell.add(widget, 'main');
    labShell.activateById(id);
  };

  const openRun = (runId: string, name: string): void => {
    const content = new RunDetailWidget({
      runId,
      openRun,
      openFile: (path: string) => {
        if (docManager) {
          docManager.openOrReveal(path);
        } else {
          void app.commands.execute('docmanager:open', { path });
        }
      }
    });
    const widget = new MainAreaWidget({ content });
    widget.title.label = `Run ${name}`;
    widget.title.icon = mlopsIcon;
    widget.title.closable = true;
    openInMain(widget, `mlops-nb-run-${runId}`);
  };

  const compare = (runIds: string[]): void => {
    const content = new CompareWidget({ runIds, openRun });
    const widget = new MainAreaWidget({ content });
    widget.title.label = `Compare ${runIds.length} runs`;
    widget.title.icon = mlopsIcon;
    widget.title.closable = true;
    widget.id = `mlops-nb-compare-${Date.now()}`;
    labShell.add(widget, 'main');
    labShell.activateById(widget.id);
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
