import { lazy, Suspense, type ReactNode } from 'react';
import { Spin } from 'antd';
import { Navigate, Route, Routes } from 'react-router';
import { AppsPage } from './apps/AppsPage';
import { LoginPage, RequireAuth } from './auth';
import { AppLayout } from './shell/AppLayout';

// The pages inside an app load on demand: the first load is the login and the apps list.
const AppShell = lazy(() => import('./shell/AppShell').then((m) => ({ default: m.AppShell })));
const AppIndex = lazy(() => import('./shell/AppShell').then((m) => ({ default: m.AppIndex })));
const EntityPage = lazy(() => import('./grid/EntityPage'));
const ViewPage = lazy(() => import('./grid/ViewPage'));
const MyViewPage = lazy(() => import('./grid/MyViewPage'));
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
