import { Result } from 'antd';
import { useParams } from 'react-router';
import { useI18n } from '../i18n';
import { useAppOutlet } from '../shell/AppContext';
import { EntityGrid } from './EntityGrid';
import { entityTarget } from './gridList';

/** `/apps/:app/:entity`: the entity's grid (its default view when the app has one). */
export default function EntityPage() {
  const { entity: name = '' } = useParams();
  const { app, caller } = useAppOutlet();
  const { t } = useI18n();
  const { entity, view } = entityTarget(app, caller, name);
  if (!entity) return <Result status="404" title={t('grid.entityNotFound')} data-testid="entity-not-found" />;
  return <EntityGrid key={`${app.name}/${name}`} app={app} entity={entity} view={view} caller={caller} />;
}
