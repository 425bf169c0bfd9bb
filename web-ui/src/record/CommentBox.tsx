// The comment box under a record's timeline: plain text with an @mention picker. Typing `@`
// and a few letters asks the server whom the caller may mention on this record (only users
// who may read it are offered); a picked name is sent as `@[user id]`. After posting, anyone
// mentioned who was not told (they cannot read the record, or the id names nobody) is named.

import { useEffect, useRef, useState } from 'react';
import { Alert, Button, Mentions } from 'antd';
import { SendOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { toProblem, useApi } from '../api';
import { useI18n, type MessageKey } from '../i18n';
import { mentionable, pageKeys, postComment, type MentionedUser, type PostedComment } from './queries';
import { encodeMentions } from './timeline';

/** Most characters of a comment (the server's limit). */
export const MAX_COMMENT_CHARS = 10_000;

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** Why each mentioned user was not told, one line each (none when all were). */
export function skippedMentions(posted: PostedComment, t: T): string[] {
  return posted.mentions
    .filter((m) => !m.notified && m.reason !== 'author')
    .map((m) => {
      const user = m.name ?? m.user;
      switch (m.reason) {
        case 'cannot_read':
          return t('comment.skipped.cannotRead', { user });
        case 'disabled':
          return t('comment.skipped.disabled', { user });
        default:
          return t('comment.skipped.noSuchUser', { user });
      }
    });
}

export function CommentBox({ app, entity, id }: { app: string; entity: string; id: string }) {
  const api = useApi();
  const qc = useQueryClient();
  const { t } = useI18n();
  const [text, setText] = useState('');
  const [picked, setPicked] = useState<MentionedUser[]>([]);
  const [options, setOptions] = useState<MentionedUser[]>([]);
  const [searching, setSearching] = useState(false);
  const [posting, setPosting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [skipped, setSkipped] = useState<string[]>([]);
  const search = useRef<{ timer?: ReturnType<typeof setTimeout>; ctrl?: AbortController }>({});

  useEffect(() => {
    const s = search.current;
    return () => {
      clearTimeout(s.timer);
      s.ctrl?.abort();
    };
  }, []);

  const onSearch = (q: string) => {
    const s = search.current;
    clearTimeout(s.timer);
    s.ctrl?.abort();
    setSearching(true);
    s.timer = setTimeout(() => {
      const ctrl = new AbortController();
      s.ctrl = ctrl;
      mentionable(api, app, entity, id, q, ctrl.signal).then(
        (users) => {
          if (ctrl.signal.aborted) return;
          setOptions(users);
          setSearching(false);
        },
        () => {
          if (ctrl.signal.aborted) return;
          setOptions([]);
          setSearching(false);
        },
      );
    }, 150);
  };

  const submit = async () => {
    const body = encodeMentions(text, picked);
    if (!body.trim()) return;
    setPosting(true);
    setError(null);
    setSkipped([]);
    try {
      const posted = await postComment(api, app, entity, id, body);
      setText('');
      setPicked([]);
      setSkipped(skippedMentions(posted, t));
      await qc.invalidateQueries({ queryKey: pageKeys.timeline(app, entity, id) });
    } catch (e) {
      const p = toProblem(e);
      const code = p.errors[0]?.code;
      setError(
        code === 'too_long'
          ? t('comment.tooLong', { n: MAX_COMMENT_CHARS })
          : code === 'empty'
            ? t('comment.empty')
            : t('comment.failed', { reason: p.displayMessage }),
      );
    } finally {
      setPosting(false);
    }
  };

  return (
    <div className="comment-box" data-testid="comment-box">
      <Mentions
        value={text}
        onChange={setText}
        prefix="@"
        autoSize={{ minRows: 2, maxRows: 8 }}
        placeholder={t('comment.placeholder')}
        aria-label={t('comment.placeholder')}
        maxLength={MAX_COMMENT_CHARS}
        loading={searching}
        filterOption={false}
        notFoundContent={searching ? null : t('comment.noOne')}
        onSearch={(q) => onSearch(q)}
        onSelect={(option) => {
          const user = options.find((u) => u.id === option.key);
          if (user) setPicked((p) => [...p.filter((x) => x.id !== user.id), user]);
        }}
        options={options.map((u) => ({
          key: u.id,
          value: u.name,
          label: (
            <span data-testid="mention-option" data-user={u.id}>
              {u.name}
            </span>
          ),
        }))}
        data-testid="comment-input"
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit();
        }}
      />
      <div className="comment-actions">
        <span className="comment-hint">{t('comment.hint')}</span>
        <Button
          type="primary"
          icon={<SendOutlined />}
          loading={posting}
          disabled={!text.trim()}
          onClick={() => void submit()}
          data-testid="comment-send"
        >
          {t('comment.send')}
        </Button>
      </div>
      {error && <Alert type="error" showIcon message={error} data-testid="comment-error" className="comment-alert" />}
      {skipped.length > 0 && (
        <Alert
          type="warning"
          showIcon
          closable
          onClose={() => setSkipped([])}
          message={t('comment.notNotified')}
          description={
            <ul className="comment-skipped">
              {skipped.map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ul>
          }
          data-testid="comment-skipped"
          className="comment-alert"
        />
      )}
    </div>
  );
}
