// GET /api/v1/alerts/{id}/events: an alert's base events, each with the rule's selector it
// satisfied (correlation rules) and the fields and values that matched, for the alert page's
// highlighting. Types follow the OpenAPI document's schemas of the same names.
import { ApiError, request } from './client';
import type { EventDoc } from './types';

export interface MatchedField {
  /** The event field; null for a full-text word found in the raw line or message. */
  field: string | null;
  /** The value that satisfied the condition (the word found, for full text). */
  value: string;
}

export interface AlertBaseEvent {
  id: string;
  via: string | null;
  rule_id: string | null;
  selector: string | null;
  /** The stored event, null when it is no longer stored. */
  event: EventDoc | null;
  matched: MatchedField[];
}

export interface AlertEvents {
  events: AlertBaseEvent[];
}

/** The alert's base events with their matches; null when the server cannot explain them (no
 * correlator, or an older server): the caller then reads the events by id. */
export async function alertEvents(id: string): Promise<AlertEvents | null> {
  try {
    return await request<AlertEvents>(`/api/v1/alerts/${encodeURIComponent(id)}/events`);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 503 || e.unavailable)) return null;
    throw e;
  }
}

/** The matched values of each field of one base event (field null: full-text words). */
export function matchIndex(matched: MatchedField[]): Map<string | null, Set<string>> {
  const m = new Map<string | null, Set<string>>();
  for (const x of matched) {
    if (!m.has(x.field)) m.set(x.field, new Set());
    m.get(x.field)!.add(x.value);
  }
  return m;
}
