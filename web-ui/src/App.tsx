import { lazy, Suspense, type ReactNode } from 'react';
import { Spin } from 'antd';
import { Navigate, Route, Routes } from 'react-router';
import { AppsPage } from './apps/AppsPage';
import { LoginPage, RequireAuth } from './auth';
import { AppLayout } from './shell/AppLayout';

// The pages inside an app load on demand: the first load is the login and the apps list.
const loadShell = () => import('./shell/AppShell');
const loadEntityPage = () => import('./grid/EntityPage');
const loadViewPage = () => import('./grid/ViewPage');
const loadMyViewPage = () => import('./grid/MyViewPage');
const AppShell = lazy(() => loadShell().then((m) => ({ default: m.AppShell })));
const AppIndex = lazy(() => loadShell().then((m) => ({ default: m.AppIndex })));
const EntityPage = lazy(loadEntityPage);
const ViewPage = lazy(loadViewPage);
const MyViewPage = lazy(loadMyViewPage);

/**
 * A page opened at a grid's address (a reload, a link) fetches the shell's and the grid's code
 * at once, beside the first API requests, rather than each after the one before: the grid's
 * first rows come that much sooner.
 */
export function preloadFor(path: string): void {
  const [apps, app, third, fourth] = path.split('/').filter(Boolean);
  if (apps !== 'apps' || !app) return;
  void loadShell();
  if (third === 'views' && fourth) void loadViewPage();
  else if (third === 'my' && fourth) void loadMyViewPage();
  else if (third && !fourth) void loadEntityPage();
}
if (typeof window !== 'undefined') preloadFor(window.location.pathname);
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
