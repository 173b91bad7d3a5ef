#!/usr/bin/python3
"""Small OpenStack API helper for scripts/stack.sh (standard library only).

Why not the `openstack` CLI: every invocation costs ~2 s of Python imports,
and stack.sh needs a dozen calls; this helper does them in one process in
well under a second. Credentials come from the OS_* environment (source an
openrc file first), never from the command line.

Subcommands:
  keystone-setup        service project, neutron/kuryr users (admin role on
                        service), network service and its 3 endpoints.
                        Passwords: env NEUTRON_PASSWORD, KURYR_PASSWORD.
  subnetpools           kuryr (IPv4) and kuryr6 (IPv6) subnet pools, shared,
                        owned by the service project.
  external PHYSNET GATEWAY/PREFIXLEN FIP
                        external flat network `public` on PHYSNET, its
                        subnet `public-subnet` (no DHCP; GATEWAY is the
                        host's bridge), router `kuryr-router` with its
                        gateway there, and floating IP FIP, all but the
                        network owned by the service project.
  agent-ready HOST [SINCE [TYPE]]
                        exit 0 if the agent of TYPE (default: Linux bridge
                        agent) on HOST is alive (and, with SINCE = UTC
                        'YYYY-mm-dd HH:MM:SS', has (re)started at or after
                        SINCE; an empty SINCE means any time).
  agents                print the agent list, one line per agent.
  get PATH              GET PATH on the network endpoint, print the JSON.
All creations are idempotent.
"""
import json
import os
import sys
import urllib.error
import urllib.request

TIMEOUT = 30


class ApiError(Exception):
    pass


def request(method, url, token=None, body=None, ok=(200, 201, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            raw = resp.read()
            headers = resp.headers
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        if e.code in ok:
            return e.code, e.headers, (json.loads(raw) if raw else None)
        raise ApiError("%s %s -> %s: %s" % (method, url, e.code, raw[:400].decode(errors="replace")))
    return status, headers, (json.loads(raw) if raw else None)


class Session:
    def __init__(self, username=None, password=None, project=None):
        env = os.environ
        self.auth_url = env["OS_AUTH_URL"].rstrip("/")
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": username or env["OS_USERNAME"],
                "domain": {"name": env.get("OS_USER_DOMAIN_NAME", "Default")},
                "password": password or env["OS_PASSWORD"]}}},
            "scope": {"project": {
                "name": project or env["OS_PROJECT_NAME"],
                "domain": {"name": env.get("OS_PROJECT_DOMAIN_NAME", "Default")}}}}}
        _, headers, data = request("POST", self.auth_url + "/auth/tokens", body=body)
        self.token = headers["X-Subject-Token"]
        self.catalog = data["token"].get("catalog", [])
        self.region = env.get("OS_REGION_NAME", "RegionOne")
        self.interface = env.get("OS_INTERFACE", "public")

    def endpoint(self, service_type):
        for svc in self.catalog:
            if svc["type"] == service_type:
                for ep in svc["endpoints"]:
                    if ep["interface"] == self.interface and ep.get("region_id", self.region) == self.region:
                        return ep["url"].rstrip("/")
        raise ApiError("no %s endpoint in the catalog" % service_type)

    def ks(self, method, path, body=None, ok=(200, 201, 202, 204)):
        return request(method, self.auth_url + path, self.token, body, ok)[2]

    def net(self, method, path, body=None):
        return request(method, self.endpoint("network") + "/v2.0" + path, self.token, body)[2]


def q(value):
    return urllib.request.quote(value, safe="")


def ensure_one(sess, collection, key, query, create_body):
    found = sess.ks("GET", "/%s?%s" % (collection, query))[collection]
    if found:
        return found[0]
    print("  creating %s %s" % (key, create_body.get("name")), file=sys.stderr)
    return sess.ks("POST", "/" + collection, {key: create_body})[key]


def keystone_setup():
    sess = Session()
    env = os.environ
    domain = sess.ks("GET", "/domains?name=Default")["domains"][0]["id"]
    project = ensure_one(sess, "projects", "project", "name=service&domain_id=" + domain,
                         {"name": "service", "domain_id": domain,
                          "description": "Service project (kuryr-stack)"})
    admin_role = sess.ks("GET", "/roles?name=admin")["roles"][0]["id"]
    for name, pw_var in (("neutron", "NEUTRON_PASSWORD"), ("kuryr", "KURYR_PASSWORD")):
        password = env[pw_var]
        user = ensure_one(sess, "users", "user", "name=%s&domain_id=%s" % (name, domain),
                          {"name": name, "domain_id": domain, "password": password,
                           "default_project_id": project["id"]})
        sess.ks("PUT", "/projects/%s/users/%s/roles/%s" % (project["id"], user["id"], admin_role))
        # The user may pre-date the current password (secrets file recreated):
        # check by logging in, reset it only if that fails.
        try:
            Session(name, password, "service")
        except ApiError:
            print("  resetting password of %s" % name, file=sys.stderr)
            sess.ks("PATCH", "/users/" + user["id"], {"user": {"password": password}})
    service = ensure_one(sess, "services", "service", "type=network",
                         {"type": "network", "name": "neutron",
                          "description": "OpenStack Networking"})
    url = env.get("NEUTRON_URL", "http://127.0.0.1:9696")
    for interface in ("public", "internal", "admin"):
        eps = sess.ks("GET", "/endpoints?service_id=%s&interface=%s" % (service["id"], interface))["endpoints"]
        eps = [e for e in eps if e.get("region_id") == sess.region]
        if not eps:
            sess.ks("POST", "/endpoints", {"endpoint": {
                "service_id": service["id"], "interface": interface, "url": url,
                "region_id": sess.region, "enabled": True}})
        elif eps[0]["url"] != url:
            sess.ks("PATCH", "/endpoints/" + eps[0]["id"], {"endpoint": {"url": url}})
    print("keystone: service project %s, users neutron+kuryr, network endpoints %s" % (project["id"], url))


def subnetpools():
    sess = Session()
    project = sess.ks("GET", "/projects?name=service")["projects"][0]["id"]
    pools = (
        ("kuryr", os.environ.get("KURYR_POOL_V4", "10.10.0.0/16"), 24),
        ("kuryr6", os.environ.get("KURYR_POOL_V6", "fd10:10::/48"), 64),
    )
    for name, prefix, prefixlen in pools:
        found = sess.net("GET", "/subnetpools?name=" + q(name))["subnetpools"]
        if found:
            print("subnetpool %s exists: %s %s" % (name, found[0]["id"], found[0]["prefixes"]))
            continue
        pool = sess.net("POST", "/subnetpools", {"subnetpool": {
            "name": name, "prefixes": [prefix], "default_prefixlen": prefixlen,
            "shared": True, "project_id": project,
            "description": "Kuryr default pool (kuryr-stack)"}})["subnetpool"]
        print("subnetpool %s created: %s %s" % (name, pool["id"], pool["prefixes"]))


def external(physnet, gateway_cidr, fip_address):
    sess = Session()
    project = sess.ks("GET", "/projects?name=service")["projects"][0]["id"]
    gateway, prefixlen = gateway_cidr.split("/")
    base = gateway.rsplit(".", 1)[0]
    net = ensure_net(sess, "networks", "network", "name=public", {
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": physnet, "description": "External network (kuryr-stack)"})
    ensure_net(sess, "subnets", "subnet", "name=public-subnet&network_id=" + net["id"], {
        "name": "public-subnet", "network_id": net["id"], "ip_version": 4,
        "cidr": "%s.0/%s" % (base, prefixlen), "gateway_ip": gateway, "enable_dhcp": False,
        "allocation_pools": [{"start": base + ".2", "end": base + ".254"}]})
    # The floating IP before the router, so that the router's gateway cannot take its address.
    fip = ensure_net(sess, "floatingips", "floatingip", "floating_ip_address=" + q(fip_address), {
        "floating_network_id": net["id"], "floating_ip_address": fip_address, "project_id": project,
        "description": "Published ports of Kuryr ([port_forwarding] floating_ip) (kuryr-stack)"})
    router = ensure_net(sess, "routers", "router", "name=kuryr-router", {
        "name": "kuryr-router", "project_id": project,
        "external_gateway_info": {"network_id": net["id"]}})
    print("external network %s, router %s, floating IP %s" % (net["id"], router["id"], fip["floating_ip_address"]))


def ensure_net(sess, collection, key, query, create_body):
    found = sess.net("GET", "/%s?%s" % (collection, query))[collection]
    if found:
        return found[0]
    print("  creating %s %s" % (key, create_body.get("name", "")), file=sys.stderr)
    return sess.net("POST", "/" + collection, {key: create_body})[key]


def agents_of(sess, agent_type, host=None):
    path = "/agents?agent_type=" + q(agent_type)
    if host:
        path += "&host=" + q(host)
    return sess.net("GET", path)["agents"]


def agent_ready(host, since=None, agent_type="Linux bridge agent"):
    for agent in agents_of(Session(), agent_type, host):
        if not agent["alive"] or not agent["admin_state_up"]:
            continue
        # Timestamps are UTC 'YYYY-mm-dd HH:MM:SS': they compare as strings.
        if since and (agent.get("started_at") or "") < since:
            continue
        return 0
    return 1


def agents():
    sess = Session()
    for a in sess.net("GET", "/agents")["agents"]:
        print("%-22s host=%-12s alive=%-5s up=%-5s started_at=%s heartbeat=%s" % (
            a["agent_type"], a["host"], a["alive"], a["admin_state_up"],
            a.get("started_at"), a.get("heartbeat_timestamp")))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    try:
        if cmd == "keystone-setup":
            keystone_setup()
        elif cmd == "subnetpools":
            subnetpools()
        elif cmd == "agent-ready":
            return agent_ready(argv[2], argv[3] if len(argv) > 3 else None, *argv[4:5])
        elif cmd == "external":
            external(argv[2], argv[3], argv[4])
        elif cmd == "agents":
            agents()
        elif cmd == "get":
            print(json.dumps(Session().net("GET", argv[2]), indent=1))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (ApiError, OSError, KeyError, IndexError) as e:
        print("osctl %s: %s: %s" % (cmd, type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
