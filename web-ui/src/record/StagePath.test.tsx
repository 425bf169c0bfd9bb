// The SOP checklist's ticks are this browser's, and each user's own.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { I18nProvider } from '../i18n';
import { clearUserStorage } from '../shared/userStorage';
import { sopKey, StagePath } from './StagePath';
import type { PipelineDef } from './queries';

const L = (zh: string, en: string) => ({ zh, en });
const pipeline = {
  initial: 'qualify',
  stages: [
    { key: 'qualify', label: L('资格', 'Qualify'), sop: [{ key: 'call', label: L('打电话', 'Call them') }] },
    { key: 'won', label: L('赢单', 'Won'), kind: 'won' },
  ],
  transitions: [],
} as unknown as PipelineDef;

function show(userId: string) {
  return render(
    <I18nProvider lang="en">
      <StagePath pipeline={pipeline} record={{ id: 'r1', stage: 'qualify' }} moves={undefined} scope="crm/deal/r1" userId={userId} />
    </I18nProvider>,
  );
}

function box(): HTMLInputElement {
  const el = screen.getByTestId('sop-call');
  return (el instanceof HTMLInputElement ? el : el.querySelector('input')) as HTMLInputElement;
}
const ticked = () => box().checked;

describe('SOP ticks', () => {
  it('are kept per user, and go when that user logs out', () => {
    const a = show('u1');
    fireEvent.click(box());
    expect(ticked()).toBe(true);
    expect(JSON.parse(localStorage.getItem(sopKey('u1', 'crm/deal/r1', 'qualify'))!)).toEqual(['call']);
    a.unmount();

    // Another user of the same browser starts with their own, empty, list.
    const b = show('u2');
    expect(ticked()).toBe(false);
    b.unmount();

    const again = show('u1');
    expect(ticked()).toBe(true);
    again.unmount();

    clearUserStorage('u1');
    show('u1');
    expect(ticked()).toBe(false);
  });
});
