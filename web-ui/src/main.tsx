import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import 'antd/dist/reset.css';
import './index.css';
import { App } from './App';
import { api, ApiProvider, createQueryClient } from './api';
import { AuthProvider } from './auth';
import { I18nProvider } from './i18n';

const queryClient = createQueryClient();

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
