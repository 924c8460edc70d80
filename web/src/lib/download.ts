// File downloads that carry the same credentials as API calls: fetch with the auth headers,
// then save the body through a temporary object URL (a bare <a href> could not send them).
import { ApiError, authHeaders, errorFromResponse } from './api';

// The file name from a Content-Disposition header (filename*= UTF-8 form first), or null.
export function filenameFromDisposition(header: string | null): string | null {
  if (!header) return null;
  const star = /filename\*\s*=\s*(?:UTF-8'[^']*')?([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ''));
    } catch {
      /* fall through to filename= */
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(header);
  if (!plain) return null;
  return (plain[2] ?? plain[1]).trim() || null;
}

// Fetches `path` (with credentials) and saves it as `filename` (or the server's name).
// Returns the number of bytes saved. Rejects with ApiError on an HTTP error.
export async function downloadFile(path: string, filename?: string): Promise<number> {
  let res: Response;
  try {
    res = await fetch(path, { headers: authHeaders(path) });
  } catch (e) {
    throw new ApiError(`cannot reach the server (${(e as Error).message})`, 0);
  }
  if (!res.ok) throw await errorFromResponse(res);
  const blob = await res.blob();
  const name = filename ?? filenameFromDisposition(res.headers.get('Content-Disposition')) ?? 'download';
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.rel = 'noopener';
    a.style.display = 'none';
    document.body.appendChild(a);
    a.click();
    a.remove();
  } finally {
    // Revoke after the click has been handled (an immediate revoke can cancel the download).
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return blob.size;
}
