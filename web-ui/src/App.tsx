import { lazy, Suspense, useState, type ComponentType, type ReactNode } from 'react';
import { Spin } from 'antd';
import { Navigate, Route, Routes } from 'react-router';
import { AppsPage } from './apps/AppsPage';
import { LoginPage, RequireAuth } from './auth';
import { AppLayout } from './shell/AppLayout';

/**
 * A page whose code loads on demand, and may be loaded ahead (`preload`). Once its code is in,
 * the page renders at once rather than through `React.lazy`, which suspends on its first render
 * even then (showing the fallback, and React holds back what follows a fallback for a while).
 * Each use keeps the way it started, so a page never mounts twice.
 */
function onDemand(load: () => Promise<ComponentType>): { Page: ComponentType; preload: () => Promise<unknown> } {
  let loaded: ComponentType | null = null;
  let loading: Promise<ComponentType> | null = null;
  const preload = () =>
    (loading ??= load().then(
      (c) => (loaded = c),
      (e: unknown) => {
        loading = null;
        throw e;
      },
    ));
  const Lazy = lazy(() => preload().then((c) => ({ default: c })));
  function Page() {
    const [Ready] = useState(() => loaded);
    return Ready ? <Ready /> : <Lazy />;
  }
  return { Page, preload };
}

// The pages inside an app load on demand: the first load is the login and the apps list.
const loadShell = () => import('./shell/AppShell');
const Shell = onDemand(() => loadShell().then((m) => m.AppShell));
const Index = onDemand(() => loadShell().then((m) => m.AppIndex));
const Entity = onDemand(() => import('./grid/EntityPage').then((m) => m.default));
const View = onDemand(() => import('./grid/ViewPage').then((m) => m.default));
const MyView = onDemand(() => import('./grid/MyViewPage').then((m) => m.default));
const AppShell = Shell.Page;
const AppIndex = Index.Page;
const EntityPage = Entity.Page;
const ViewPage = View.Page;
const MyViewPage = MyView.Page;

/**
 * A page opened at a grid's address (a reload, a link) fetches the shell's and the grid's code
 * at once, beside the first API requests, rather than each after the one before: the grid's
 * first rows come that much sooner. Answers when that code is in (or failed to come).
 */
export function preloadFor(path: string): Promise<void> {
  const [apps, app, third, fourth] = path.split('/').filter(Boolean);
  if (apps !== 'apps' || !app) return Promise.resolve();
  const code: Promise<unknown>[] = [Shell.preload(), Index.preload()];
  if (third === 'views' && fourth) code.push(View.preload());
  else if (third === 'my' && fourth) code.push(MyView.preload());
  else if (third && !fourth) code.push(Entity.preload());
  return Promise.all(code).then(
    () => undefined,
    () => undefined,
  );
}

/** The code of the page at the address the app was opened at (main.tsx waits for it). */
export const pageCode: Promise<void> = typeof window === 'undefined' ? Promise.resolve() : preloadFor(window.location.pathname);
const RecordPage = lazy(() => import('./record/RecordPage'));
const RecordFormPage = lazy(() => import('./form/RecordFormPage'));

function Lazy({ children }: { children: ReactNode }) {
  return (
    <Suspense
      fallback={
        <div className="full-page-center" data-testid="page-loading">
          <Spin />
        </div>
      }
    >
      {children}
    </Suspense>
  );
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireAuth>
            <AppLayout />
          </RequireAuth>
        }
      >
        <Route index element={<AppsPage />} />
        <Route
          path="apps/:app"
          element={
            <Lazy>
              <AppShell />
            </Lazy>
          }
        >
          <Route index element={<Lazy><AppIndex /></Lazy>} />
          <Route path="views/:view" element={<Lazy><ViewPage /></Lazy>} />
          <Route path="my/:view" element={<Lazy><MyViewPage /></Lazy>} />
          <Route path=":entity" element={<Lazy><EntityPage /></Lazy>} />
          <Route path=":entity/new" element={<Lazy><RecordFormPage /></Lazy>} />
          <Route path=":entity/:id" element={<Lazy><RecordPage /></Lazy>} />
          <Route path=":entity/:id/edit" element={<Lazy><RecordFormPage /></Lazy>} />
        </Route>
      </Route>
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}
