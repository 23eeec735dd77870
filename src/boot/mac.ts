/**
 * MAC addresses arrive in every spelling firmware, admins and spreadsheets use:
 * 08:00:27:4d:4d:aa, 08-00-27-4D-4D-AA, 0800.274d.4daa (Cisco), 0800274d4daa.
 * Everything inside chainboot uses the lower-case colon form.
 */
const HEX12 = /^[0-9a-f]{12}$/;

export function normalizeMac(input: string): string | null {
  const s = input.trim().toLowerCase();
  if (s.length > 17) return null;
  let hex: string;
  if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/.test(s)) hex = s.replace(/[:-]/g, '');
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(s)) hex = s.replace(/\./g, '');
  else hex = s;
  if (!HEX12.test(hex)) return null;
  return hex.match(/../g)!.join(':');
}

/** 08:00:27:4d:4d:aa → 08-00-27-4d-4d-aa (pxelinux.cfg and URL paths). */
export function macHyphen(mac: string): string {
  return mac.replace(/:/g, '-');
}

/** 08:00:27:4d:4d:aa → 0800274d4daa */
export function macPlain(mac: string): string {
  return mac.replace(/:/g, '');
}
