// The timeline of one record from its history (`…/history`, oldest first, a page at a time).
// Comments, when their API exists, are one more source merged here (see timeline.ts).

import { Alert, Button, Empty, Skeleton } from 'antd';
import { toProblem, type EntityDef } from '../api';
import { useI18n } from '../i18n';
import { useHistory } from './queries';
import { Timeline, type TimelineContext } from './Timeline';
import { fromHistory, mergeEntries } from './timeline';

export function RecordTimeline({ app, entity, id, ctx }: { app: string; entity: EntityDef; id: string; ctx: TimelineContext }) {
  const { t } = useI18n();
  const history = useHistory(app, entity.name, id);
  if (history.error) {
    return <Alert type="error" showIcon message={t('timeline.loadFailed')} description={toProblem(history.error).displayMessage} />;
  }
  if (!history.data) return <Skeleton active paragraph={{ rows: 3 }} />;
  const entries = mergeEntries(fromHistory(history.data.pages.flatMap((p) => p.data)));
  return (
    <div data-testid="timeline">
      {entries.length === 0 ? (
        <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('timeline.empty')} />
      ) : (
        <Timeline entries={entries} ctx={ctx} />
      )}
      {history.hasNextPage && (
        <Button onClick={() => void history.fetchNextPage()} loading={history.isFetchingNextPage} data-testid="timeline-more">
          {t('timeline.more')}
        </Button>
      )}
    </div>
  );
}
