// Records pointing at this one: for each relation field (of any entity the caller reads) whose
// target is this entity, a short list of the records holding this record's id, a page at a time
// (one request per relation and page), each leading to its own record page.

import { Alert, Button, Card, Empty, List, Typography } from 'antd';
import { LinkOutlined } from '@ant-design/icons';
import { Link } from 'react-router';
import { toProblem, type EntityDef, type FieldDef } from '../api';
import { relationTitle } from '../grid/cells';
import { localize, useI18n } from '../i18n';
import { useRelated } from './queries';

const PAGE = 5;

export interface Relation {
  entity: EntityDef;
  field: FieldDef;
}

/** The relations of the readable entities that point at `target`. */
export function relationsTo(entities: readonly EntityDef[], target: string): Relation[] {
  return entities.flatMap((entity) =>
    (entity.fields ?? []).filter((f) => f.type === 'relation' && f.target === target).map((field) => ({ entity, field })),
  );
}

function RelatedList({ app, relation, id }: { app: string; relation: Relation; id: string }) {
  const { lang, t } = useI18n();
  const { entity, field } = relation;
  const q = useRelated(app, entity.name, field.name, id, PAGE);
  const rows = q.data?.pages.flatMap((p) => p.data) ?? [];
  const total = q.data?.pages[0]?.total;
  const title = t('related.group', {
    entity: localize(entity.label, lang) || entity.name,
    field: localize(field.label, lang) || field.name,
  });
  return (
    <Card
      size="small"
      className="related-card"
      title={title}
      extra={
        typeof total === 'number' ? (
          <Typography.Text type="secondary" data-testid={`related-count-${entity.name}-${field.name}`}>
            {total === 1 ? t('grid.total.one') : t('grid.total', { n: total })}
          </Typography.Text>
        ) : null
      }
      data-testid={`related-${entity.name}-${field.name}`}
    >
      {q.error ? (
        <Alert type="error" showIcon message={toProblem(q.error).displayMessage} />
      ) : (
        <List
          size="small"
          loading={q.isLoading}
          dataSource={rows}
          locale={{ emptyText: <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('related.none')} /> }}
          renderItem={(row) => (
            <List.Item>
              <Link
                to={`/apps/${app}/${entity.name}/${encodeURIComponent(row.id)}`}
                className="related-link"
                data-testid="related-link"
              >
                <LinkOutlined /> {relationTitle(entity, row, lang)}
              </Link>
            </List.Item>
          )}
        />
      )}
      {q.hasNextPage && (
        <Button type="link" size="small" loading={q.isFetchingNextPage} onClick={() => void q.fetchNextPage()}>
          {t('related.more')}
        </Button>
      )}
    </Card>
  );
}

export function RelatedRecords({ app, relations, id }: { app: string; relations: readonly Relation[]; id: string }) {
  return (
    <div className="related" data-testid="related">
      {relations.map((r) => (
        <RelatedList key={`${r.entity.name}.${r.field.name}`} app={app} relation={r} id={id} />
      ))}
    </div>
  );
}
