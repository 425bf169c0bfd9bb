import { Alert, Result, Spin } from 'antd';
import { useParams } from 'react-router';
import { readableEntities } from '../apps/rights';
import { useI18n } from '../i18n';
import { useAppOutlet } from '../shell/AppContext';
import { EntityGrid } from './EntityGrid';
import { useMyViews } from './viewQueries';

/** `/apps/:app/my/:view`: one of the caller's personal views (kanban and calendar as a grid for now). */
export default function MyViewPage() {
  const { view: name = '' } = useParams();
  const { app, caller } = useAppOutlet();
  const { t } = useI18n();
  const mine = useMyViews(app.name);
  if (mine.isLoading) return <Spin />;
  const pv = (mine.data ?? []).find((v) => v.view.name === name);
  const entity = pv && readableEntities(app, caller).find((e) => e.name === pv.view.entity);
  if (!pv || !entity) {
    return (
      <div data-testid="view-not-found">
        <Result status="404" title={t('grid.viewNotFound')} />
      </div>
    );
  }
  const { broken, gone, view } = pv;
  return (
    <>
      {(broken || gone.length > 0) && (
        <Alert
          type="warning"
          showIcon
          className="page-alert"
          message={t('view.broken')}
          description={gone.length ? t('view.gone', { fields: gone.join(', ') }) : undefined}
          data-testid="view-broken"
        />
      )}
      {view.type !== 'grid' && <Alert type="info" showIcon className="page-alert" message={t('grid.viewAsGrid')} />}
      <EntityGrid key={`${app.name}/m/${name}`} app={app} entity={entity} view={view} caller={caller} opened="personal" />
    </>
  );
}
