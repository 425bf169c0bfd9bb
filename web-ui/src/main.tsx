import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import 'antd/dist/reset.css';
import './index.css';
import { App } from './App';
import { api, ApiProvider, createQueryClient } from './api';
import { tokenStore } from './api/token';
import { appQuery } from './apps/queries';
import { AuthProvider } from './auth';
import { I18nProvider } from './i18n';

const queryClient = createQueryClient();

// Opened at an app's address with a session: its definition is asked beside `/me`, not after it.
const [first, app] = window.location.pathname.split('/').filter(Boolean);
if (first === 'apps' && app && tokenStore.get()) void queryClient.prefetchQuery(appQuery(api, decodeURIComponent(app)));

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <BrowserRouter>
      <I18nProvider>
        <ApiProvider api={api} queryClient={queryClient}>
          <AuthProvider>
            <App />
          </AuthProvider>
        </ApiProvider>
      </I18nProvider>
    </BrowserRouter>
  </StrictMode>,
);
