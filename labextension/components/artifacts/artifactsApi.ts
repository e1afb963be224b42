/** The artifact routes: a folder's listing (JSON), a file's bytes, a notebook copied for JupyterLab. */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { MlopsApiError, requestAPI } from '../../api';
import type { ApiError, ArtifactList, Snapshot } from '../../types';

const id = encodeURIComponent;

export function listArtifacts(runId: string, path: string): Promise<ArtifactList> {
  return requestAPI<ArtifactList>(`runs/${id(runId)}/artifacts`, {}, { path });
}

export function openArtifactNotebook(runId: string, path: string): Promise<Snapshot> {
  return requestAPI<Snapshot>(`runs/${id(runId)}/artifacts/open`, { method: 'POST' }, { path });
}

/** The file's bytes as a Blob of the type the server gives; errors as MlopsApiError. */
export async function readArtifact(runId: string, path: string): Promise<Blob> {
  const settings = ServerConnection.makeSettings();
  const url =
    URLExt.join(settings.baseUrl, 'mlops-nb', 'api', 'runs', id(runId), 'artifacts', 'file') +
    `?${new URLSearchParams({ path }).toString()}`;
  const response = await ServerConnection.makeRequest(url, { cache: 'no-cache' }, settings);
  if (!response.ok) {
    let body: ApiError = { error: 'HTTPError', message: `${response.status} ${response.statusText}` };
    try {
      const parsed = (await response.json()) as ApiError;
      if (parsed && typeof parsed.message === 'string') {
        body = parsed;
      }
    } catch {
      // keep the status line
    }
    throw new MlopsApiError(response.status, body);
  }
  return response.blob();
}
