// The list of what keeps a move from being made, each with its kind; a field to fill links to
// the form.

import { Tag } from 'antd';
import {
  AuditOutlined,
  EditOutlined,
  ExperimentOutlined,
  EyeInvisibleOutlined,
  FormOutlined,
  PaperClipOutlined,
  WarningOutlined,
} from '@ant-design/icons';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import type { EntityDef } from '../api';
import { useI18n } from '../i18n';
import { BLOCKER_KIND_LABEL, showBlocker, type BlockerKind, type BlockerLike } from './blockers';

const ICONS: Record<BlockerKind, ReactNode> = {
  field: <FormOutlined />,
  attachment: <PaperClipOutlined />,
  condition: <ExperimentOutlined />,
  approval: <AuditOutlined />,
  comment: <EditOutlined />,
  hidden: <EyeInvisibleOutlined />,
  other: <WarningOutlined />,
};

const COLORS: Record<BlockerKind, string> = {
  field: 'orange',
  attachment: 'purple',
  condition: 'red',
  approval: 'gold',
  comment: 'blue',
  hidden: 'default',
  other: 'default',
};

export interface BlockerListProps {
  blockers: readonly BlockerLike[];
  entity: EntityDef | undefined;
  /** The record's form, where a field to fill can be filled (none: no link). */
  editHref?: string;
  testId?: string;
}

export function BlockerList({ blockers, entity, editHref, testId }: BlockerListProps) {
  const { lang, t } = useI18n();
  return (
    <ul className="blocker-list" data-testid={testId}>
      {blockers.map((b, i) => {
        const s = showBlocker(b, entity, lang, t);
        return (
          <li key={`${b.field}-${b.code}-${i}`} className="blocker" data-kind={s.kind} data-field={b.field}>
            <Tag color={COLORS[s.kind]} icon={ICONS[s.kind]} className="blocker-kind">
              {t(BLOCKER_KIND_LABEL[s.kind])}
            </Tag>
            <span className="blocker-text">{s.text}</span>
            {s.kind === 'field' && editHref && (
              <Link to={editHref} className="blocker-fix" data-testid={`blocker-fix-${b.field}`}>
                {t('blocker.fix')}
              </Link>
            )}
          </li>
        );
      })}
    </ul>
  );
}
