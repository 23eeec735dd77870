/**
 * Why a listener could not bind, and what to do about it, in one line.
 */
export function explainBindError(err: NodeJS.ErrnoException, proto: 'tcp' | 'udp', port: number): string {
  if (err.code === 'EACCES') {
    return `${proto}/${port}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE: run as root, or "setcap cap_net_bind_service=+ep $(command -v node)", or pick another port with the matching setting)`;
  }
  if (err.code === 'EADDRINUSE') {
    const who = port === 67 ? ' (a DHCP server on this host? then only port 4011 can be served here, and it must send option 60 "PXEClient")' : port === 69 ? ' (another TFTP server: tftpd-hpa, dnsmasq --enable-tftp?)' : '';
    return `${proto}/${port}: address already in use${who}; "ss -lnp${proto === 'udp' ? 'u' : 't'} 'sport = :${port}'" shows the holder; stop it or choose another port`;
  }
  if (err.code === 'EADDRNOTAVAIL') return `${proto}/${port}: the listen address is not on any interface of this host; check the listen address setting`;
  return `${proto}/${port}: ${err.message}`;
}
