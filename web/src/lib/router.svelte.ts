// Hash routing (#/, #/chat?model=x, #/models, #/logs, #/settings, #/keys, #/users): the server serves index.html at "/"
// only, so routes live in the fragment and deep links survive a reload.

export const kPages = ['dashboard', 'chat', 'models', 'logs', 'settings', 'keys', 'users'] as const;
export type Page = (typeof kPages)[number];

export interface Route {
  page: Page;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const [path, query = ''] = h.split('?', 2);
  const page: Page = (kPages as readonly string[]).includes(path) ? (path as Page) : 'dashboard';
  return { page, params: new URLSearchParams(query) };
}

export const route = $state<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => {
    const r = parseHash(location.hash);
    route.page = r.page;
    route.params = r.params;
  });
}

export function href(page: Page, params?: Record<string, string>): string {
  const q = params ? `?${new URLSearchParams(params)}` : '';
  return page === 'dashboard' ? `#/${q}` : `#/${page}${q}`;
}
