// Short names for the platform document's schemas the UI uses (all generated: see schema.d.ts).

import type { components } from './schema';

export type Schemas = components['schemas'];

/** A text in both languages (`{zh, en}`). */
export type LocalizedText = Schemas['Label'];
export type User = Schemas['UserBody'];
export type Tenant = Schemas['TenantBody'];
export type Me = Schemas['MeBody'];
export type LoginResponse = Schemas['LoginResponse'];
/** An app as the API answers it. */
export type App = Schemas['AppOut'];
/** An app's definition, as it is created. */
export type AppDef = Schemas['AppDef'];
export type Template = Schemas['TemplateOut'];
export type InstallOut = Schemas['InstallOut'];
export type ElementChange = Schemas['ElementChange'];
export type EntityDef = Schemas['EntityDef'];
export type FieldDef = Schemas['FieldDef'];
export type FieldType = Schemas['FieldType'];
export type ViewDef = Schemas['ViewDef'];
