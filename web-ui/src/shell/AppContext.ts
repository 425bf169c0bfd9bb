import { useOutletContext } from 'react-router';
import type { App } from '../api';
import type { Caller } from '../apps/rights';

/** What the app's shell hands its pages: the definition as the caller reads it, and the caller. */
export interface AppOutlet {
  app: App;
  caller: Caller;
}

export function useAppOutlet(): AppOutlet {
  return useOutletContext<AppOutlet>();
}
