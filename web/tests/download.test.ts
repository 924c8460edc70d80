import { describe, expect, test } from 'vitest';
import { filenameFromDisposition } from '../src/lib/download';
import { needsAdminToken } from '../src/lib/api';

describe('filenameFromDisposition', () => {
  test('quoted, bare and RFC 5987 forms', () => {
    expect(filenameFromDisposition('attachment; filename="audit-logs.jsonl"')).toBe('audit-logs.jsonl');
    expect(filenameFromDisposition('attachment; filename=audit.csv')).toBe('audit.csv');
    expect(filenameFromDisposition("attachment; filename=\"x.csv\"; filename*=UTF-8''r%C3%A9sum%C3%A9.csv")).toBe('résumé.csv');
    expect(filenameFromDisposition('attachment')).toBeNull();
    expect(filenameFromDisposition(null)).toBeNull();
  });
});

describe('needsAdminToken', () => {
  test('admin and model-management routes only', () => {
    expect(needsAdminToken('/admin/audit-logs/export?format=jsonl')).toBe(true);
    expect(needsAdminToken('/api/models/downloads')).toBe(true);
    expect(needsAdminToken('/v1/models')).toBe(false);
    expect(needsAdminToken('/api/system')).toBe(false);
  });
});
