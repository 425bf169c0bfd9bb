import { StrictMode, useEffect, useState, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import 'antd/dist/reset.css';
import './index.css';
import { App, pageCode } from './App';
import { api, ApiProvider, createQueryClient } from './api';
import { tokenStore } from './api/token';
import { prefetchForAddress } from './grid/prefetch';
import { AuthProvider, FullPageSpin } from './auth';
import { I18nProvider, useI18n } from './i18n';

const queryClient = createQueryClient();

// Opened with a session: `/me`, at an app's address the app's definition, and at a grid's
// address the grid's first page are asked now, not after the renders that need them; at a
// grid's address the page renders once that page is in (or has been held long enough) and the
// page's code too (rendered before its code, the page would show a fallback and render twice).
const data = tokenStore.get() ? prefetchForAddress(queryClient, api, window.location.pathname) : null;
const ready = data && Promise.all([data, pageCode]);

/** The session's spinner until the first load may render (grid/prefetch.ts). */
function FirstLoad({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(ready === null);
  useEffect(() => {
    if (!open) void ready?.then(() => setOpen(true));
  }, [open]);
  return open ? children : <FullPageSpin tip={t('session.loading')} />;
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <BrowserRouter>
      <I18nProvider>
        <ApiProvider api={api} queryClient={queryClient}>
          <AuthProvider>
            <FirstLoad>
              <App />
            </FirstLoad>
          </AuthProvider>
        </ApiProvider>
      </I18nProvider>
    </BrowserRouter>
  </StrictMode>,
);
