// temporal-authz: a single-process Temporal server (the same server the Temporal CLI's dev server
// embeds, SQLite persistence) with Temporal's own JWT claim mapper turned on, for proving how
// Lookout's Temporal credentials are scoped (test/temporal-authz.test.ts).
//
// Authorizers:
//   - default: Temporal's default authorizer, unchanged.
//   - lookout: the default authorizer plus what it cannot express: a namespace "worker" role
//     (permission "<namespace>:worker") that admits exactly the calls an activity worker makes in
//     that namespace: poll activity tasks, answer and heartbeat them, describe the namespace, and
//     the worker lifecycle calls. Anything else is left to the default authorizer, for which the
//     worker role alone is below "reader" and so admits nothing.
//
// JWT keys come from a JWKS URL (Temporal's default token key provider); permissions from the
// "permissions" claim ("<namespace>:<read|write|worker|admin>", "temporal-system:admin").
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

const workflowService = "/temporal.api.workflowservice.v1.WorkflowService/"

// What an activity worker calls in its namespace: nothing that reads or changes a workflow.
var workerAPIs = map[string]bool{
	workflowService + "PollActivityTaskQueue":        true,
	workflowService + "RespondActivityTaskCompleted": true,
	workflowService + "RespondActivityTaskFailed":    true,
	workflowService + "RespondActivityTaskCanceled":  true,
	workflowService + "RecordActivityTaskHeartbeat":  true,
	workflowService + "DescribeNamespace":            true,
	workflowService + "ShutdownWorker":               true,
	workflowService + "RecordWorkerHeartbeat":        true,
}

type lookoutAuthorizer struct{ base authorization.Authorizer }

func (a lookoutAuthorizer) Authorize(ctx context.Context, claims *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	if claims != nil && target.Namespace != "" && workerAPIs[target.APIName] {
		if claims.Namespaces[target.Namespace]&authorization.RoleWorker != 0 {
			return authorization.Result{Decision: authorization.DecisionAllow}, nil
		}
	}
	return a.base.Authorize(ctx, claims, target)
}

func freePort(ip string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type namespaces []string

func (n *namespaces) String() string     { return strings.Join(*n, ",") }
func (n *namespaces) Set(v string) error { *n = append(*n, v); return nil }

func main() {
	ip := flag.String("ip", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 7233, "frontend gRPC port")
	httpPort := flag.Int("http-port", 0, "frontend HTTP port (0: any free one)")
	dbFile := flag.String("db-filename", "", "SQLite file (in memory without)")
	jwks := flag.String("jwks-url", "", "where the JWT signing keys are (JWKS over HTTP)")
	authorizerName := flag.String("authorizer", "lookout", "default | lookout")
	logLevel := flag.String("log-level", "warn", "debug | info | warn | error")
	var pre namespaces
	flag.Var(&pre, "namespace", "a namespace to create at start (repeatable)")
	flag.Parse()
	if *jwks == "" {
		fmt.Fprintln(os.Stderr, "temporal-authz: --jwks-url is required")
		os.Exit(2)
	}
	if *httpPort == 0 {
		*httpPort = freePort(*ip)
	}
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: *logLevel, Format: "json"}))

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = *ip
	conf.Global.Authorization = config.Authorization{
		JWTKeyProvider:       config.JWTKeyProvider{KeySourceURIs: []string{*jwks}, RefreshInterval: time.Minute},
		PermissionsClaimName: "permissions",
		Authorizer:           "default",
		ClaimMapper:          "default",
	}
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	sql := config.SQL{PluginName: sqliteplugin.PluginName}
	if *dbFile == "" {
		sql.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		sql.DatabaseName = strconv.Itoa(rand.Intn(9999999))
	} else {
		sql.ConnectAttributes = map[string]string{"mode": "rwc"}
		sql.DatabaseName = *dbFile
		if _, err := os.Stat(*dbFile); os.IsNotExist(err) {
			if err := sqliteschema.SetupSchema(&sql); err != nil {
				fail("setting up the schema", err)
			}
		}
	}
	const clusterName = "active"
	nsConfigs := []*sqliteschema.NamespaceConfig{}
	for _, ns := range pre {
		c, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, nil)
		if err != nil {
			fail("namespace config", err)
		}
		nsConfigs = append(nsConfigs, c)
	}
	if err := sqliteschema.CreateNamespaces(&sql, nsConfigs...); err != nil {
		fail("creating namespaces", err)
	}
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: &sql}}
	frontend := fmt.Sprintf("%s:%d", *ip, *port)
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend,
			HTTPAddress: fmt.Sprintf("%s:%d", *ip, *httpPort), ClusterID: "lookout-authz",
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	service := func(grpcPort, hp int) config.Service {
		var s config.Service
		s.RPC.GRPCPort = grpcPort
		s.RPC.BindOnIP = *ip
		s.RPC.HTTPPort = hp
		return s
	}
	// The server's own system workers call an internal frontend (no client authorization, loopback
	// only here; mTLS between nodes in a real deployment), so that the public one can refuse every
	// call without a token.
	ports := map[string]int{"frontend": *port, "internal-frontend": freePort(*ip), "history": freePort(*ip), "matching": freePort(*ip), "worker": freePort(*ip)}
	conf.Services = map[string]config.Service{
		"frontend":          service(ports["frontend"], *httpPort),
		"internal-frontend": service(ports["internal-frontend"], freePort(*ip)),
		"history":           service(ports["history"], 0),
		"matching":          service(ports["matching"], 0),
		"worker":            service(ports["worker"], 0),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"

	base, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		fail("authorizer", err)
	}
	authorizer := base
	if *authorizerName == "lookout" {
		authorizer = lookoutAuthorizer{base: base}
	} else if *authorizerName != "default" {
		fmt.Fprintln(os.Stderr, "temporal-authz: --authorizer must be default or lookout")
		os.Exit(2)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		fail("claim mapper", err)
	}
	host := func(name string) static.Hosts { return static.SingleLocalHost(fmt.Sprintf("%s:%d", *ip, ports[name])) }
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
	server, err := temporal.NewServer(
		temporal.WithConfig(&conf),
		temporal.ForServices(append([]string{string(primitives.InternalFrontendService)}, temporal.DefaultServices...)),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService:         host("frontend"),
			primitives.InternalFrontendService: host("internal-frontend"),
			primitives.HistoryService:          host("history"),
			primitives.MatchingService:         host("matching"),
			primitives.WorkerService:           host("worker"),
		}),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		fail("building the server", err)
	}
	if err := server.Start(); err != nil {
		fail("starting the server", err)
	}
	fmt.Printf("temporal-authz listening on %s (authorizer %s)\n", frontend, *authorizerName)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	server.Stop()
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "temporal-authz: %s: %v\n", what, err)
	os.Exit(1)
}
