// Who is signed in and which tenant the console looks at; shared by every page.
import { createContext, useContext } from 'react';
import type { Principal, Role } from '../api/types';

export interface Session {
  principal: Principal;
  /** Tenants the caller holds a role in (the tenant switcher's list). */
  tenants: { id: string; name: string }[];
  tenant: string;
  setTenant: (t: string) => void;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside the signed-in console');
  return s;
}

const RANK: Record<Role, number> = {
  read_only: 0,
  tier1_analyst: 1,
  tier2_analyst: 2,
  tenant_administrator: 3,
  administrator: 4,
};

/** The caller's role in a tenant (the general administrator's is administrator everywhere). */
export function roleIn(p: Principal, tenant: string): Role | null {
  if (p.general_admin) return 'administrator';
  return p.roles[tenant] ?? null;
}

export function atLeast(p: Principal, tenant: string, role: Role): boolean {
  const r = roleIn(p, tenant);
  return r !== null && RANK[r] >= RANK[role];
}

export function displayName(p: Principal): string {
  return p.kind === 'user' ? p.username : p.name;
}
