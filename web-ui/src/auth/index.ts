// The session: logging in and out, and the pages behind it.
export * from './AuthProvider';
export { FullPageSpin, RequireAuth } from './RequireAuth';
export { LoginPage } from './LoginPage';
