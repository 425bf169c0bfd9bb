import { Alert, Result } from 'antd';
import { useParams } from 'react-router';
import { useI18n } from '../i18n';
import { useAppOutlet } from '../shell/AppContext';
import { EntityGrid } from './EntityGrid';
import { viewTarget } from './gridList';

/** `/apps/:app/views/:view`: a shared view of the app (kanban and calendar as a grid for now). */
export default function ViewPage() {
  const { view: name = '' } = useParams();
  const { app, caller } = useAppOutlet();
  const { t } = useI18n();
  const { entity, view } = viewTarget(app, caller, name);
  if (!view || !entity) return <Result status="404" title={t('grid.viewNotFound')} data-testid="view-not-found" />;
  return (
    <>
      {view.type !== 'grid' && <Alert type="info" showIcon className="page-alert" message={t('grid.viewAsGrid')} />}
      <EntityGrid key={`${app.name}/v/${name}`} app={app} entity={entity} view={view} caller={caller} />
    </>
  );
}
