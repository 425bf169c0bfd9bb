// `/apps/:app/:entity/:id`: a record's page. Its fields (with Edit when the caller may update),
// the stage path with the stage's SOP, due time and SLA, the moves the caller may make and what
// blocks them, the approvals waiting on it, manual rules, a timeline of its history, and the
// records pointing at it.

import { useMemo } from 'react';
import { Alert, Button, Card, Col, Result, Row, Skeleton, Space, Tag } from 'antd';
import { ArrowLeftOutlined, EditOutlined } from '@ant-design/icons';
import { Link, useParams } from 'react-router';
import { toProblem, type App, type EntityDef } from '../api';
import { hasRight, readableEntities, type Caller } from '../apps/rights';
import { relationTitle, type CellContext } from '../grid/cells';
import { peopleById } from '../api/queries/users';
import { localize, useI18n } from '../i18n';
import { useAppOutlet } from '../shell/AppContext';
import { useSession } from '../auth';
import { entityForm } from '../form/layout';
import { recordRights } from '../form/queries';
import { ApprovalsPanel } from './ApprovalsPanel';
import { FieldsCard } from './FieldsCard';
import { usePageRecord, usePipeline, useRules, useTransitions, useUsers } from './queries';
import { RecordTimeline } from './RecordTimeline';
import { RelatedRecords, relationsTo } from './RelatedRecords';
import { manualRules, RuleButtons } from './RuleButtons';
import { StagePath } from './StagePath';
import { TransitionsPanel } from './TransitionsPanel';
import './record.css';

export default function RecordPage() {
  const { entity: name = '', id = '' } = useParams();
  const { app, caller } = useAppOutlet();
  const { t } = useI18n();
  const entity = readableEntities(app, caller).find((e) => e.name === name);
  if (!entity) return <Result status="404" title={t('grid.entityNotFound')} />;
  return <RecordView key={`${app.name}/${name}/${id}`} app={app} caller={caller} entity={entity} id={id} />;
}

function RecordView({ app, caller, entity, id }: { app: App; caller: Caller; entity: EntityDef; id: string }) {
  const { lang, t } = useI18n();
  const { user } = useSession();
  const readableList = useMemo(() => readableEntities(app, caller), [app, caller]);
  const readable = useMemo(() => new Set(readableList.map((e) => e.name)), [readableList]);
  const expand = useMemo(
    () => (entity.fields ?? []).filter((f) => f.type === 'relation' && readable.has(f.target ?? '')).map((f) => f.name),
    [entity, readable],
  );
  const record = usePageRecord(app.name, entity.name, id, expand);
  const pipeline = usePipeline(app.name, entity.name);
  const hasPipeline = !!pipeline.data;
  const moves = useTransitions(app.name, entity.name, id, hasPipeline && !!record.data);
  const users = useUsers();
  const rules = useRules(app.name);
  const relations = useMemo(() => relationsTo(readableList, entity.name), [readableList, entity.name]);
  const manual = useMemo(() => manualRules(rules.data ?? [], entity.name, app, caller), [rules.data, entity.name, app, caller]);
  const hasSide = hasPipeline || relations.length > 0;

  const err = record.error ? toProblem(record.error) : null;
  const current = record.data;
  const r = current?.record;
  // The entity's right, and this record inside the caller's update scope (the server says).
  const mayEdit = hasRight(app, entity.name, caller, 'update') && recordRights(r)?.update !== false;
  const editHref = mayEdit ? `/apps/${app.name}/${entity.name}/${encodeURIComponent(id)}/edit` : undefined;

  const people = useMemo(() => peopleById(users.data), [users.data]);
  const cells: CellContext = { lang, t, app: app.name, entities: app.entities ?? [], readable, people };
  const userName = (uid: string) => {
    const u = users.data?.find((x) => x.id === uid);
    return u ? u.name || u.email : uid;
  };
  const stageLabel = (key: string) => localize(pipeline.data?.stages.find((s) => s.key === key)?.label, lang) || key;
  const ruleLabel = (rule: string) => localize(rules.data?.find((x) => x.name === rule)?.label, lang) || rule;
  const stage = typeof r?.stage === 'string' ? r.stage : null;

  return (
    <div className="record-page record-view" data-testid="record-page">
      <Link to={`/apps/${app.name}/${entity.name}`}>
        <Button type="link" icon={<ArrowLeftOutlined />} style={{ paddingLeft: 0 }}>
          {t('record.back')}
        </Button>
      </Link>
      {err ? (
        err.status === 404 ? (
          <Result status="404" title={t('record.notFound')} />
        ) : (
          <Alert type="error" showIcon message={t('record.loadFailed')} description={err.displayMessage} />
        )
      ) : !current || !r ? (
        <Card>
          <Skeleton active />
        </Card>
      ) : (
        <>
          <Card
            className="record-head"
            styles={{ body: manual.length || pipeline.data ? undefined : { display: 'none' } }}
            title={<span data-testid="record-title">{relationTitle(entity, r, lang)}</span>}
            extra={
              <Space wrap>
                <Tag>{localize(entity.label, lang) || entity.name}</Tag>
                {stage && (
                  <Tag color="processing" data-testid="record-stage">
                    {stageLabel(stage)}
                  </Tag>
                )}
                {editHref && (
                  <Link to={editHref}>
                    <Button type="primary" icon={<EditOutlined />} data-testid="record-edit">
                      {t('record.edit')}
                    </Button>
                  </Link>
                )}
              </Space>
            }
          >
            <RuleButtons app={app.name} entity={entity.name} id={id} list={manual} />
            {pipeline.data && (
              <StagePath
                pipeline={pipeline.data}
                record={r}
                moves={moves.data}
                scope={`${app.name}/${entity.name}/${id}`}
                userId={user.id}
              />
            )}
          </Card>
          <Row gutter={[16, 16]} className="record-body">
            <Col xs={{ span: 24, order: 2 }} lg={{ span: hasSide ? 15 : 24, order: 1 }}>
              <Card title={t('record.fields')} size="small" className="record-card">
                <FieldsCard entity={entity} form={entityForm(app, entity)} record={r} cells={cells} userName={userName} />
              </Card>
              <Card title={t('timeline.title')} size="small" className="record-card">
                <RecordTimeline
                  app={app.name}
                  entity={entity}
                  id={id}
                  ctx={{ entity, cells, userName, stageLabel, ruleLabel }}
                />
              </Card>
            </Col>
            {hasSide && (
              <Col xs={{ span: 24, order: 1 }} lg={{ span: 9, order: 2 }}>
                {pipeline.data && (
                  <Card title={t('transition.title')} size="small" className="record-card">
                    {moves.error ? (
                      <Alert type="error" showIcon message={toProblem(moves.error).displayMessage} />
                    ) : moves.data ? (
                      <TransitionsPanel
                        app={app.name}
                        entity={entity}
                        current={current}
                        moves={moves.data}
                        expand={expand}
                        editHref={editHref}
                      />
                    ) : (
                      <Skeleton active paragraph={{ rows: 2 }} />
                    )}
                  </Card>
                )}
                {pipeline.data && (
                  <Card title={t('approval.title')} size="small" className="record-card">
                    <ApprovalsPanel
                      app={app.name}
                      entity={entity.name}
                      record={id}
                      stageLabel={stageLabel}
                      userName={userName}
                    />
                  </Card>
                )}
                {relations.length > 0 && (
                  <Card title={t('related.title')} size="small" className="record-card">
                    <RelatedRecords app={app.name} relations={relations} id={id} />
                  </Card>
                )}
              </Col>
            )}
          </Row>
        </>
      )}
    </div>
  );
}
