#!/bin/sh
# udhcpc event script: configure the interface from the lease (busybox passes it in the env).
case "$1" in
  deconfig)
    ip addr flush dev "$interface" 2>/dev/null
    ip link set "$interface" up
    ;;
  bound | renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    if [ -n "$router" ]; then
      while route del default gw 0.0.0.0 dev "$interface" 2>/dev/null; do :; done
      for r in $router; do
        route add default gw "$r" dev "$interface"
        break
      done
    fi
    : >/run/mvm/resolv.conf.new
    for d in $dns; do echo "nameserver $d" >>/run/mvm/resolv.conf.new; done
    [ -n "$domain" ] && echo "search $domain" >>/run/mvm/resolv.conf.new
    mv /run/mvm/resolv.conf.new /run/mvm/resolv.conf
    echo "[init] network: $interface $ip via ${router:-none}" >/dev/console
    ;;
esac
exit 0
