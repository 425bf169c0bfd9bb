// The timeline of one record (`…/timeline`, oldest first, a page at a time: changes, moves,
// approvals, rule runs and comments), with the comment box under it. A comment the caller
// wrote (or any, for an administrator) can be deleted from its entry.

import { Alert, App as AntApp, Button, Empty, Skeleton } from 'antd';
import { useQueryClient } from '@tanstack/react-query';
import { toProblem, useApi, type EntityDef } from '../api';
import { useI18n } from '../i18n';
import { CommentBox } from './CommentBox';
import { deleteComment, pageKeys, useTimeline } from './queries';
import { Timeline, type TimelineContext } from './Timeline';
import type { Comment } from './timeline';

export function RecordTimeline({ app, entity, id, ctx }: { app: string; entity: EntityDef; id: string; ctx: TimelineContext }) {
  const { t } = useI18n();
  const api = useApi();
  const qc = useQueryClient();
  const { message } = AntApp.useApp();
  const timeline = useTimeline(app, entity.name, id);

  const remove = async (c: Comment) => {
    try {
      await deleteComment(api, app, entity.name, id, c.id);
      message.success(t('comment.deleted'));
    } catch (e) {
      message.error(t('comment.deleteFailed', { reason: toProblem(e).displayMessage }));
    }
    await qc.invalidateQueries({ queryKey: pageKeys.timeline(app, entity.name, id) });
  };

  let list;
  if (timeline.error) {
    list = <Alert type="error" showIcon message={t('timeline.loadFailed')} description={toProblem(timeline.error).displayMessage} />;
  } else if (!timeline.data) {
    list = <Skeleton active paragraph={{ rows: 3 }} />;
  } else {
    const entries = timeline.data.pages.flatMap((p) => p.data);
    list = (
      <>
        {entries.length === 0 ? (
          <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('timeline.empty')} />
        ) : (
          <Timeline entries={entries} ctx={{ ...ctx, deleteComment: (c) => void remove(c) }} />
        )}
        {timeline.hasNextPage && (
          <Button onClick={() => void timeline.fetchNextPage()} loading={timeline.isFetchingNextPage} data-testid="timeline-more">
            {t('timeline.more')}
          </Button>
        )}
      </>
    );
  }
  return (
    <div data-testid="timeline">
      {list}
      <CommentBox app={app} entity={entity.name} id={id} />
    </div>
  );
}
