// The grid's view tools: the columns panel (show, hide, order), the resizable column header,
// and the save menu (to the personal view shown, as a new personal view, to the shared view
// shown for those who may change the app).

import { useState } from 'react';
import { App as AntApp, Button, Checkbox, Dropdown, Form, Input, Modal, Popover } from 'antd';
import { ArrowDownOutlined, ArrowUpOutlined, SaveOutlined, TableOutlined } from '@ant-design/icons';
import { useNavigate } from 'react-router';
import { toProblem, type FieldDef, type ViewDef } from '../api';
import { localize, useI18n } from '../i18n';
import { moveColumn, saveTargets, toggleColumn, viewBody, viewName, type GridColumn, type GridLayout } from './viewModel';
import { useSaveView, type SaveKind } from './viewQueries';

export function ColumnsPanel({
  columns,
  fields,
  onChange,
}: {
  columns: readonly GridColumn[];
  fields: readonly FieldDef[];
  onChange: (c: GridColumn[]) => void;
}) {
  const { lang, t } = useI18n();
  const label = (f: FieldDef) => localize(f.label, lang) || f.name;
  const shown = columns.flatMap((c) => fields.filter((f) => f.name === c.field));
  const hidden = fields.filter((f) => !columns.some((c) => c.field === f.name));
  return (
    <Popover
      trigger="click"
      placement="bottomRight"
      title={t('view.columnsTitle')}
      content={
        <div className="columns-panel" data-testid="columns-panel">
          {shown.map((f, i) => (
            <div className="columns-row" key={f.name} data-testid="columns-row" data-field={f.name}>
              <Checkbox checked onChange={() => onChange(toggleColumn(columns, f.name))} data-testid={`column-toggle-${f.name}`}>
                {label(f)}
              </Checkbox>
              <span>
                <Button
                  size="small"
                  type="text"
                  icon={<ArrowUpOutlined />}
                  disabled={i === 0}
                  aria-label={t('view.moveUp')}
                  onClick={() => onChange(moveColumn(columns, i, i - 1))}
                  data-testid={`column-up-${f.name}`}
                />
                <Button
                  size="small"
                  type="text"
                  icon={<ArrowDownOutlined />}
                  disabled={i === shown.length - 1}
                  aria-label={t('view.moveDown')}
                  onClick={() => onChange(moveColumn(columns, i, i + 1))}
                  data-testid={`column-down-${f.name}`}
                />
              </span>
            </div>
          ))}
          {hidden.map((f) => (
            <div className="columns-row" key={f.name}>
              <Checkbox checked={false} onChange={() => onChange(toggleColumn(columns, f.name))} data-testid={`column-toggle-${f.name}`}>
                {label(f)}
              </Checkbox>
            </div>
          ))}
        </div>
      }
    >
      <Button icon={<TableOutlined />} data-testid="columns-button">
        {t('view.columns')}
      </Button>
    </Popover>
  );
}

type HeaderProps = React.ThHTMLAttributes<HTMLTableCellElement> & {
  resizeField?: string;
  onResizeWidth?: (w: number) => void;
};

/** A header cell with a handle on its right edge that drags its width. */
export function ResizableHeader({ resizeField, onResizeWidth, children, ...rest }: HeaderProps) {
  const { t } = useI18n();
  if (!onResizeWidth) return <th {...rest}>{children}</th>;
  return (
    <th {...rest}>
      {children}
      <span
        className="col-resize"
        title={t('view.resize')}
        data-testid={`resize-${resizeField}`}
        onClick={(e) => e.stopPropagation()}
        onMouseDown={(e) => {
          e.preventDefault();
          e.stopPropagation();
          const th = e.currentTarget.parentElement;
          if (!th) return;
          const startX = e.clientX;
          const startW = th.getBoundingClientRect().width;
          const move = (ev: MouseEvent) => onResizeWidth(startW + ev.clientX - startX);
          const up = () => {
            document.removeEventListener('mousemove', move);
            document.removeEventListener('mouseup', up);
          };
          document.addEventListener('mousemove', move);
          document.addEventListener('mouseup', up);
        }}
      />
    </th>
  );
}

export function SaveViewMenu({
  app,
  entity,
  view,
  opened,
  mayEditApp,
  layout,
  taken,
}: {
  app: string;
  entity: string;
  view?: ViewDef;
  opened: 'personal' | 'shared' | 'entity';
  mayEditApp: boolean;
  layout: GridLayout;
  /** The names of the caller's personal views. */
  taken: ReadonlySet<string>;
}) {
  const { lang, t } = useI18n();
  const { message } = AntApp.useApp();
  const navigate = useNavigate();
  const save = useSaveView(app);
  const [asking, setAsking] = useState(false);
  const [form] = Form.useForm<{ label: string }>();
  const name = view ? localize(view.label, lang) || view.name : '';

  const run = async (kind: SaveKind, label?: string) => {
    const personal = kind !== 'shared';
    const target =
      kind === 'newPersonal'
        ? { name: viewName(label ?? '', taken), label: lang === 'zh' ? { zh: label } : { en: label }, entity, personal }
        : { name: view?.name ?? '', label: view?.label ?? {}, entity, personal };
    const body = viewBody(view, layout, target as never);
    try {
      await save.mutateAsync({ kind, body });
      message.success(t('view.saved'));
      if (kind === 'newPersonal') {
        setAsking(false);
        form.resetFields();
        navigate(`/apps/${app}/my/${body.name}`);
      }
    } catch (e) {
      message.error(t('view.saveFailed', { reason: toProblem(e).displayMessage }));
    }
  };

  const items = saveTargets(opened, mayEditApp).map((k) => ({
    key: k,
    label: (
      <span data-testid={`view-save-${k}`}>
        {k === 'personal' ? t('view.savePersonal', { name }) : k === 'shared' ? t('view.saveShared', { name }) : t('view.saveNew')}
      </span>
    ),
  }));
  return (
    <>
      <Dropdown
        trigger={['click']}
        menu={{
          items,
          onClick: ({ key }) => {
            if (key === 'newPersonal') setAsking(true);
            else void run(key as SaveKind);
          },
        }}
      >
        <Button icon={<SaveOutlined />} loading={save.isPending} data-testid="view-save">
          {t('view.save')}
        </Button>
      </Dropdown>
      <Modal
        open={asking}
        title={t('view.newTitle')}
        onCancel={() => setAsking(false)}
        onOk={() => form.submit()}
        confirmLoading={save.isPending}
        okButtonProps={{ 'data-testid': 'view-new-ok' } as never}
        destroyOnHidden
      >
        <Form form={form} layout="vertical" onFinish={(v) => void run('newPersonal', v.label.trim())}>
          <Form.Item
            name="label"
            label={t('view.newLabel')}
            rules={[{ required: true, whitespace: true, message: t('view.newLabel.required') }, { max: 200 }]}
          >
            <Input autoFocus data-testid="view-new-label" />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
