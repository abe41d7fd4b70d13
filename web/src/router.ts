import { useEffect, useState } from 'preact/hooks';

// Hash routing (`#/users/7?q=ada`): the static server needs no fallback route, and every view with
// its filters is a URL the back button and a shared link restore.

export interface Route {
  path: string;
  segments: string[];
  params: Record<string, string>;
}

export function parseHash(hash: string): Route {
  const [rawPath = '', rawQuery = ''] = hash.replace(/^#/, '').split('?', 2);
  const path = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
  return {
    path,
    segments: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: Object.fromEntries(new URLSearchParams(rawQuery)),
  };
}

export function href(path: string, params: Record<string, string | number | undefined | null> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') query.set(name, String(value));
  const text = query.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

export function navigate(path: string, params: Record<string, string | number | undefined | null> = {}, replace = false): void {
  const target = href(path, params);
  if (replace) history.replaceState(null, '', target);
  else location.hash = target;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
