import { useRef, useState } from 'react';
import { Alert, App as AntApp, Button, Form, Input, Modal } from 'antd';
import { toProblem, type App } from '../api';
import { useCreateApp } from '../api/queries/apps';
import { matchFieldErrors } from '../shared/formErrors';
import { localize, useI18n } from '../i18n';
import { SLUG_MAX, SLUG_RE, slugify } from '../shared/slug';

interface Values {
  name: string;
  label: { zh: string; en: string };
}

const FORM_FIELDS = [['name'], ['label', 'zh'], ['label', 'en']] as const;

export function CreateAppModal({
  open,
  onClose,
  onCreated,
}: {
  open: boolean;
  onClose: () => void;
  onCreated: (app: App) => void;
}) {
  const { t, lang } = useI18n();
  const createApp = useCreateApp();
  const { message } = AntApp.useApp();
  const [form] = Form.useForm<Values>();
  const submitting = createApp.isPending;
  const [error, setError] = useState<string | null>(null);
  // Suggest the slug from the English label until the user edits it.
  const nameEdited = useRef(false);

  const reset = () => {
    form.resetFields();
    nameEdited.current = false;
    setError(null);
  };

  const onFinish = async (values: Values) => {
    setError(null);
    try {
      // The list refreshes itself (the mutation invalidates it).
      const app = await createApp.mutateAsync({
        name: values.name.trim(),
        label: { zh: values.label.zh.trim(), en: values.label.en.trim() },
      });
      message.success(t('create.success', { label: localize(app?.label ?? values.label, lang) }));
      reset();
      onCreated(app);
    } catch (e) {
      const err = toProblem(e);
      const { fields, unmatched } = matchFieldErrors(err.errors, FORM_FIELDS);
      // A conflict without field details is about the only unique key: the name.
      if (err.status === 409 && err.errors.length === 0) {
        fields.push({ name: ['name'], errors: [err.displayMessage] });
      }
      form.setFields(fields as Parameters<typeof form.setFields>[0]);
      if (fields.length === 0 || unmatched.length > 0) {
        const extra = unmatched.map((u) => (u.field ? `${u.field}: ${u.message}` : u.message));
        setError([err.displayMessage, ...extra].join('\n'));
      }
    }
  };

  const cancel = () => {
    if (submitting) return;
    reset();
    onClose();
  };

  return (
    <Modal
      open={open}
      title={t('create.title')}
      onCancel={cancel}
      maskClosable={!submitting}
      destroyOnHidden
      footer={[
        <Button key="cancel" onClick={cancel} disabled={submitting} data-testid="create-cancel">
          {t('create.cancel')}
        </Button>,
        <Button
          key="submit"
          type="primary"
          loading={submitting}
          onClick={() => form.submit()}
          data-testid="create-submit"
        >
          {t('create.submit')}
        </Button>,
      ]}
    >
      {error && (
        <Alert
          type="error"
          showIcon
          message={t('create.failed')}
          description={<span style={{ whiteSpace: 'pre-line' }}>{error}</span>}
          style={{ marginBottom: 16 }}
          data-testid="create-error"
        />
      )}
      <Form<Values>
        form={form}
        layout="vertical"
        name="create-app"
        style={{ marginTop: 16 }}
        onFinish={onFinish}
        disabled={submitting}
        onValuesChange={(changed: Partial<Values>) => {
          if ('name' in changed) nameEdited.current = true;
          const en = changed.label?.en;
          if (en !== undefined && !nameEdited.current) {
            form.setFieldValue('name', slugify(en));
          }
        }}
      >
        <Form.Item
          label={t('create.labelZh')}
          name={['label', 'zh']}
          rules={[{ required: true, whitespace: true, message: t('create.label.required') }]}
        >
          <Input placeholder="订单管理" autoFocus data-testid="create-label-zh" />
        </Form.Item>
        <Form.Item
          label={t('create.labelEn')}
          name={['label', 'en']}
          rules={[{ required: true, whitespace: true, message: t('create.label.required') }]}
        >
          <Input placeholder="Order management" data-testid="create-label-en" />
        </Form.Item>
        <Form.Item
          label={t('create.name')}
          name="name"
          extra={t('create.name.help')}
          rules={[
            { required: true, message: t('create.name.required') },
            { pattern: SLUG_RE, message: t('create.name.invalid') },
          ]}
        >
          <Input
            placeholder="order_management"
            maxLength={SLUG_MAX}
            spellCheck={false}
            autoComplete="off"
            data-testid="create-name"
            style={{ fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' }}
          />
        </Form.Item>
      </Form>
    </Modal>
  );
}
