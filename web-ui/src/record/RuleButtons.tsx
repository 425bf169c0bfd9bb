// The app's manual rules for this entity that the caller may run, as buttons; a run's result
// (its status and its actions') shows once the rule has run.

import { useEffect, useRef, useState } from 'react';
import { Alert, App as AntApp, Button, Space } from 'antd';
import { ThunderboltOutlined } from '@ant-design/icons';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { toProblem, useApi, type App } from '../api';
import { mayRunRule, type Caller } from '../apps/rights';
import { recordKeys } from '../grid/queries';
import { localize, useI18n } from '../i18n';
import { pageKeys, ruleRuns, runRule, RUN_STATUS_LABEL, type RuleEntry, type RunOut } from './queries';

/** Rules a person runs on this entity's records, in the app's order. */
export function manualRules(rules: readonly RuleEntry[], entity: string, app: App, caller: Caller): RuleEntry[] {
  return rules.filter(
    (r) =>
      r.trigger.type === 'manual' && r.trigger.entity === entity && r.enabled !== false && mayRunRule(app, r.name, caller),
  );
}

const ACTIVE = new Set(['waiting', 'queued', 'running', 'retrying']);

/** A run is over when its condition is decided and none of its actions is still to run. */
export function runFinished(run: RunOut): boolean {
  return run.status !== 'running' && !run.actions.some((a) => ACTIVE.has(a.status));
}

interface RunResultProps {
  app: string;
  rule: string;
  label: string;
  event: string;
  /** Called once the run is over (what it changed shows on the record). */
  onFinished: () => void;
}

function RunResult({ app, rule, label, event, onFinished }: RunResultProps) {
  const api = useApi();
  const { t } = useI18n();
  const runs = useQuery({
    queryKey: [...pageKeys.runs(app, rule), event] as const,
    queryFn: ({ signal }) => ruleRuns(api, app, rule, signal),
    refetchInterval: (q) => {
      const run = q.state.data?.find((r) => (r.trigger as { id?: string } | null)?.id === event);
      return run && runFinished(run) ? false : 500;
    },
  });
  const run = runs.data?.find((r) => (r.trigger as { id?: string } | null)?.id === event);
  const finished = !!run && runFinished(run);
  const done = useRef(onFinished);
  done.current = onFinished;
  useEffect(() => {
    if (finished) done.current();
  }, [finished]);
  if (runs.error) {
    return <Alert type="error" showIcon message={label} description={toProblem(runs.error).displayMessage} />;
  }
  if (!run || !runFinished(run)) {
    return <Alert type="info" showIcon message={label} description={t('rules.waiting')} data-testid="rule-result" data-status="running" />;
  }
  const doneActions = run.actions.filter((a) => a.status === 'done').length;
  const ok = run.status === 'done' && run.actions.every((a) => a.status === 'done' || a.status === 'skipped');
  const errors = [run.error, ...run.actions.map((a) => a.error)].filter((x): x is string => !!x);
  return (
    <Alert
      type={ok ? 'success' : run.status === 'skipped' ? 'warning' : 'error'}
      showIcon
      closable
      message={label}
      data-testid="rule-result"
      data-status={run.status}
      description={
        <>
          <div>{t(RUN_STATUS_LABEL[run.status])}</div>
          {run.actions.length > 0 && <div>{t('rules.actions', { done: doneActions, n: run.actions.length })}</div>}
          {errors.map((e) => (
            <div key={e} className="rule-error">
              {e}
            </div>
          ))}
        </>
      }
    />
  );
}

/** The buttons of `list` (see `manualRules`) for one record, and the last run's result. */
export function RuleButtons({ app, entity, id, list }: { app: string; entity: string; id: string; list: readonly RuleEntry[] }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const { lang, t } = useI18n();
  const { message } = AntApp.useApp();
  const [running, setRunning] = useState<string | null>(null);
  const [last, setLast] = useState<{ rule: RuleEntry; event: string } | null>(null);
  if (list.length === 0) return null;

  const run = async (r: RuleEntry) => {
    const label = localize(r.label, lang) || r.name;
    setRunning(r.name);
    try {
      const event = await runRule(api, app, entity, id, r.name);
      setLast({ rule: r, event });
      message.info(t('rules.started', { rule: label }));
    } catch (e) {
      message.error(t('rules.failed', { rule: label, reason: toProblem(e).displayMessage }));
    } finally {
      setRunning(null);
    }
  };

  return (
    <div className="rule-buttons" data-testid="rule-buttons">
      <Space wrap>
        {list.map((r) => (
          <Button
            key={r.name}
            icon={<ThunderboltOutlined />}
            loading={running === r.name}
            onClick={() => void run(r)}
            data-testid={`rule-${r.name}`}
          >
            {localize(r.label, lang) || r.name}
          </Button>
        ))}
      </Space>
      {last && (
        <div className="rule-result">
          <RunResult
            key={last.event}
            app={app}
            rule={last.rule.name}
            label={localize(last.rule.label, lang) || last.rule.name}
            event={last.event}
            onFinished={() => void queryClient.invalidateQueries({ queryKey: [...recordKeys.all, app, entity] })}
          />
        </div>
      )}
    </div>
  );
}
