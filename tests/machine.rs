//! The token state machine (src/proto/client/machine.rs) under races, failures and time, with a
//! fake clock. Each scenario is a script of steps; each would fail if the bug it names
//! came back.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::parse_url;
use tokenkit::proto::Error;
use tokenkit::proto::client::config::Config;
use tokenkit::proto::client::presets::{API_KEY, GENERIC};
use tokenkit::proto::client::machine::{Action, AttemptId, FlightId, Get, Machine, Outcome, COOLDOWN};
use tokenkit::proto::client::request::Runtime;
use tokenkit::proto::client::response::{TokenId, NEVER};
use tokenkit::proto::http::{Body, HttpResponse};
use tokenkit::proto::time::{Instant, Now, WallMillis};
use tokenkit::proto::value::Value;

/// What the server answers to the attempt in flight.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// A token `t<n>` (n counts issued tokens) living this many seconds.
    Token(u64),
    /// The last token issued again, with this many seconds left (a broker answering from its cache).
    Same(u64),
    /// This status with an RFC 6749 error body (for 4xx) and an optional `Retry-After`.
    Status(u16, Option<&'static str>),
    /// The connection failed.
    Network,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// A new caller asks; expect it to get `t<n>` at once (`Ready(n)`), wait, or fail.
    Get(Expect),
    /// The current attempt's answer arrives.
    Reply(Answer),
    /// An answer to an older attempt (by index in the sent list) arrives late.
    LateReply(usize, Answer),
    /// This many ms pass on both clocks, and the shell's one timer fires at each deadline
    /// the machine names on the way ([`Machine::poll_timeout`]), as `setTimeout` would.
    Advance(u64),
    /// This many ms pass on both clocks and no timer runs (a throttled tab, a Worker
    /// between requests): only the next input sees the time.
    Pass(u64),
    /// The wall clock jumps by this many ms (NTP, the user, a suspend the monotonic clock
    /// did not count); the monotonic clock does not. Only the next input sees it.
    WallJump(i64),
    /// The caller's `invalidate()`.
    Invalidate,
    /// The API answered 401 to a request signed with `t<n>`; expect replay or not.
    Unauthorized(u64, Option<&'static str>, bool),
    /// A holder of this (object's) token says an API refused the token with this value;
    /// expect it dropped or not.
    RefusedElsewhere(&'static str, bool),
    Dispose,
    /// Token requests sent so far.
    Sent(usize),
    /// Requests aborted so far.
    Aborted(usize),
    /// Every caller that waited since the last such check has this outcome.
    Waiters(Expect),
    /// `error` events so far.
    Errors(usize),
    /// `expired` events so far.
    Expired(usize),
    /// The next timer deadline, in ms from now (None: no timer).
    Timer(Option<u64>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Ready(u64),
    Wait,
    Fail(&'static str),
    Pending,
}

struct Sim {
    m: Machine,
    now: u64,
    wall: i64,
    sent: Vec<AttemptId>,
    aborted: usize,
    issued: u64,
    waiters: Vec<FlightId>,
    errors: usize,
    expired: usize,
    /// `t<n>` and the id the machine gave it (from its `Token` actions).
    ids: Vec<(u64, TokenId)>,
    /// Outcomes waiters collected when woken, as the shell's waiters do.
    settled: Vec<Expect>,
}

fn config(extra: &[(&str, Value)]) -> Config {
    let mut pairs: Vec<(String, Value)> = vec![
        ("tokenUrl".into(), Value::Str("https://auth.example.com/token".into())),
        ("clientId".into(), Value::Str("id".into())),
        ("clientSecret".into(), Value::Str("secret".into())),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Config::from_options(&GENERIC, &Value::Object(pairs), &parse_url).unwrap()
}

impl Sim {
    fn new(cfg: Config) -> Sim {
        Sim {
            m: Machine::new(cfg, Runtime::Browser, 7),
            now: 1_000,
            wall: 1_700_000_000_000,
            sent: Vec::new(),
            aborted: 0,
            issued: 0,
            waiters: Vec::new(),
            errors: 0,
            expired: 0,
            ids: Vec::new(),
            settled: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(a) = self.m.poll() {
            match a {
                Action::Send(id) => self.sent.push(id),
                Action::Abort(_) => self.aborted += 1,
                Action::Error(_) => self.errors += 1,
                Action::Expired => self.expired += 1,
                Action::Share => {}
                Action::Token(t) => self.ids.push((t.access_token.expose()[1..].parse().unwrap(), t.id)),
                Action::Wake => {
                    for f in std::mem::take(&mut self.waiters) {
                        match self.outcome(f) {
                            Expect::Pending => self.waiters.push(f),
                            done => self.settled.push(done),
                        }
                    }
                }
            }
        }
    }

    fn response(&mut self, answer: Answer) -> Result<HttpResponse, Error> {
        let json = |fields: Vec<(&str, Value)>| {
            Body::Json(Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
        };
        match answer {
            Answer::Token(_) | Answer::Same(_) => {
                let ttl = match answer {
                    Answer::Token(ttl) => {
                        self.issued += 1;
                        ttl
                    }
                    Answer::Same(ttl) => ttl,
                    _ => 0,
                };
                Ok(HttpResponse {
                    dpop_nonce: None,
                    status: 200,
                    retry_after: None,
                    body: json(vec![
                        ("access_token", Value::Str(format!("t{}", self.issued))),
                        ("token_type", Value::Str("Bearer".into())),
                        ("expires_in", Value::Num(ttl as f64)),
                    ]),
                })
            }
            Answer::Status(status, retry_after) => Ok(HttpResponse {
                dpop_nonce: None,
                status,
                retry_after: retry_after.map(str::to_owned),
                body: if status < 500 { json(vec![("error", Value::Str("invalid_client".into()))]) } else { Body::NotJson },
            }),
            Answer::Network => Err(self.m.unreachable()),
        }
    }

    fn outcome(&self, f: FlightId) -> Expect {
        match self.m.outcome(f) {
            Outcome::Pending => Expect::Pending,
            Outcome::Done(Ok(t)) => Expect::Ready(t.access_token.expose()[1..].parse().unwrap()),
            Outcome::Done(Err(e)) => Expect::Fail(e.code()),
            Outcome::Gone => panic!("a waiter's flight is gone"),
        }
    }

    /// Both clocks now, as the shell reads them for each input.
    fn clock(&self) -> Now {
        Now { mono: Instant(self.now), wall: WallMillis(self.wall as u64) }
    }

    fn step(&mut self, i: usize, step: Step) {
        let now = self.clock();
        match step {
            Step::Get(want) => {
                let got = match self.m.get(now) {
                    Get::Ready(t) => Expect::Ready(t.access_token.expose()[1..].parse().unwrap()),
                    Get::Wait(f) => {
                        self.waiters.push(f);
                        Expect::Wait
                    }
                    Get::Fail(e) => Expect::Fail(e.code()),
                };
                assert_eq!(got, want, "step {i}: {step:?}");
            }
            Step::Reply(answer) => {
                let attempt = *self.sent.last().expect("nothing was sent");
                let r = self.response(answer);
                self.m.handle_response(attempt, r, now, &parse_url);
            }
            Step::LateReply(index, answer) => {
                let r = self.response(answer);
                self.m.handle_response(self.sent[index], r, now, &parse_url);
            }
            Step::Advance(ms) => {
                let end = self.now + ms;
                // One timer, re-armed after each input; a deadline that does not move on
                // would be a busy loop in the shell.
                for _ in 0..100 {
                    match self.m.poll_timeout() {
                        Some(at) if at.0 <= end => {
                            self.pass(at.0.max(self.now) - self.now);
                            self.m.handle_timeout(self.clock());
                            self.drain();
                        }
                        _ => {
                            self.pass(end - self.now);
                            return;
                        }
                    }
                }
                panic!("step {i}: the timer fires over and over without time passing");
            }
            Step::Pass(ms) => self.pass(ms),
            Step::WallJump(ms) => self.wall += ms,
            Step::Invalidate => self.m.invalidate(now),
            Step::Unauthorized(n, www, replay) => {
                let id = self.token_id(n);
                assert_eq!(self.m.unauthorized(id, www, true), replay, "step {i}: {step:?}");
            }
            Step::RefusedElsewhere(value, dropped) => assert_eq!(self.m.refused_elsewhere(value), dropped, "step {i}: {step:?}"),
            Step::Dispose => self.m.dispose(),
            Step::Sent(n) => assert_eq!(self.sent.len(), n, "step {i}: requests sent"),
            Step::Aborted(n) => assert_eq!(self.aborted, n, "step {i}: requests aborted"),
            Step::Errors(n) => assert_eq!(self.errors, n, "step {i}: error events"),
            Step::Expired(n) => assert_eq!(self.expired, n, "step {i}: expired events"),
            Step::Waiters(Expect::Pending) => {
                assert!(!self.waiters.is_empty() && self.settled.is_empty(), "step {i}: nobody is waiting");
                for f in self.waiters.clone() {
                    assert_eq!(self.outcome(f), Expect::Pending, "step {i}: waiter outcome");
                }
            }
            Step::Waiters(want) => {
                assert!(self.waiters.is_empty(), "step {i}: callers still waiting");
                assert!(!self.settled.is_empty(), "step {i}: no waiter was answered");
                for got in std::mem::take(&mut self.settled) {
                    assert_eq!(got, want, "step {i}: waiter outcome");
                }
            }
            Step::Timer(want) => {
                let got = self.m.poll_timeout().map(|at| at.0 - self.now);
                assert_eq!(got, want, "step {i}: next timer");
            }
        }
        self.drain();
    }

    fn pass(&mut self, ms: u64) {
        self.now += ms;
        self.wall += ms as i64;
    }

    fn token_id(&self, n: u64) -> TokenId {
        self.ids.iter().find(|(k, _)| *k == n).map(|(_, id)| *id).unwrap_or(TokenId(u64::MAX))
    }
}

use Answer::*;
use Expect::*;
use Step::*;

fn run(name: &str, cfg: Config, steps: &[Step]) {
    let mut sim = Sim::new(cfg);
    for (i, s) in steps.iter().enumerate() {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.step(i, *s)))
            .unwrap_or_else(|_| panic!("scenario {name:?} failed at step {i} ({s:?})"));
    }
}

/// Both clocks `ms` into a test, moving together.
fn at(ms: u64) -> Now {
    Now { mono: Instant(ms), wall: WallMillis(ms.saturating_add(1_700_000_000_000)) }
}

fn num(n: f64) -> Value {
    Value::Num(n)
}

#[test]
fn race_table() {
    let std = || config(&[]);
    let quiet = || config(&[("maxRetries", num(0.0))]);
    let broker = || {
        let opts = Value::Object(vec![("brokerUrl".into(), Value::Str("https://edge.example.com/token".into()))]);
        Config::from_options(&GENERIC, &opts, &parse_url).unwrap()
    };
    let scenarios: Vec<(&str, Config, Vec<Step>)> = vec![
        ("a broker's token with under a second left (expires_in 0) goes to its waiters and is not kept", broker(), vec![
            Get(Wait), Get(Wait), Sent(1),
            Reply(Token(0)), Waiters(Ready(1)), Get(Wait), Sent(2),
            Reply(Token(30)), Waiters(Ready(2)), Get(Ready(2)), Sent(2),
        ]),
        ("a broker answering the same token as its life runs out is asked again no sooner than MIN_INTERVAL (no storm of ever-closer refreshes)", broker(), vec![
            Get(Wait), Reply(Token(20)), Waiters(Ready(1)),
            Advance(10_000), Sent(2), // the refresh point (half its life)
            Reply(Same(10)), Get(Ready(1)),
            Advance(5_000), Sent(3),
            Reply(Same(5)),
            // Its refresh point is 2.5 s away, but the answer repeated the token: 5 s from the ask.
            Advance(4_999), Sent(3),
            // Then it lapses (nothing new came): the next caller asks at once.
            Advance(1), Sent(3), Get(Wait), Sent(4),
        ]),
        ("two callers on a cold cache share one request", std(), vec![
            Get(Wait), Get(Wait), Sent(1),
            Reply(Token(100)), Waiters(Ready(1)), Get(Ready(1)), Sent(1),
        ]),
        ("stale 401s while the replacement is in flight start no more requests", std(), vec![
            Get(Wait), Reply(Token(100)), Waiters(Ready(1)), Get(Ready(1)),
            Unauthorized(1, None, true), Get(Wait), Sent(2),
            // Three more calls signed with t1 come back 401 while t2 is being fetched.
            Unauthorized(1, None, true), Unauthorized(1, None, true), Unauthorized(1, Some("Bearer"), true),
            Get(Wait), Sent(2),
            Reply(Token(100)), Waiters(Ready(2)),
            // A late 401 for t1 does not throw away t2.
            Unauthorized(1, None, true), Get(Ready(2)), Sent(2),
        ]),
        ("a TOKEN_CACHE object told of a refusal drops that token only: isolates refusing at once make one request", std(), vec![
            Get(Wait), Reply(Token(100)), Waiters(Ready(1)), Get(Ready(1)),
            RefusedElsewhere("t2", false), RefusedElsewhere("", false), RefusedElsewhere("t", false), Get(Ready(1)), Sent(1),
            RefusedElsewhere("t1", true), Get(Wait), Sent(2),
            // The other isolates' refusals of t1 arrive while t2 is in flight, and after.
            RefusedElsewhere("t1", false), Get(Wait), Sent(2),
            Reply(Token(100)), Waiters(Ready(2)),
            RefusedElsewhere("t1", false), Get(Ready(2)), Sent(2),
        ]),
        ("401 challenges: only a refused token is dropped and replayed (RFC 6750 §3.1)", std(), vec![
            Get(Wait), Reply(Token(100)),
            Unauthorized(1, Some("Bearer error=\"insufficient_scope\", scope=\"admin\""), false),
            Unauthorized(1, Some("Bearer error=\"invalid_request\""), false),
            Unauthorized(1, Some("Basic realm=\"legacy\""), false),
            Unauthorized(1, Some("DPoP algs=\"ES256\""), false),
            Unauthorized(1, Some("Bearer, Basic realm=\"x\""), false),
            Get(Ready(1)), Sent(1),
            Unauthorized(1, Some("Bearer realm=\"api, v2\", error=\"invalid_token\", error_description=\"expired\""), true),
            Get(Wait), Sent(2),
        ]),
        ("a refresh in flight never stalls callers holding a valid token", std(), vec![
            Get(Wait), Reply(Token(100)), Timer(Some(50_000)),
            Advance(50_000), Sent(2),
            Get(Ready(1)), Get(Ready(1)), Sent(2),
            Reply(Token(100)), Get(Ready(2)),
        ]),
        ("a due refresh is started by the caller that sees it, and still answered at once", std(), vec![
            Get(Wait), Reply(Token(100)),
            // No timer ran (a throttled tab, a Worker): the clock is re-checked per call.
            Pass(50_000), Sent(1), Get(Ready(1)), Sent(2),
        ]),
        ("a failed refresh keeps the token, emits one error and cools down", std(), vec![
            Get(Wait), Reply(Token(100)), Advance(50_000), Sent(2),
            Reply(Status(500, None)), Advance(1_000), Sent(3),
            Reply(Status(502, None)), Advance(1_000), Sent(4),
            Reply(Status(503, None)), Errors(1),
            // Three calls right after the failure: the old token, no new requests.
            Get(Ready(1)), Get(Ready(1)), Get(Ready(1)), Sent(4),
            Advance(COOLDOWN.0), Sent(5),
            Reply(Token(100)), Get(Ready(2)),
        ]),
        ("a refresh refused by Retry-After waits at least that long", std(), vec![
            Get(Wait), Reply(Token(100)), Advance(50_000), Sent(2),
            Reply(Status(429, Some("40"))), Errors(1), Get(Ready(1)), Sent(2),
            Advance(COOLDOWN.0), Get(Ready(1)), Sent(2),
            Advance(35_000), Sent(3),
        ]),
        ("no token: every waiter gets the error; Retry-After makes later calls fail fast", std(), vec![
            Get(Wait), Get(Wait), Reply(Status(429, Some("40"))),
            Waiters(Fail("RATE_LIMITED")), Errors(1),
            Get(Fail("RATE_LIMITED")), Sent(1),
            Advance(40_000), Get(Wait), Sent(2),
        ]),
        ("OAuth errors are not retried", std(), vec![
            Get(Wait), Reply(Status(401, None)), Waiters(Fail("OAUTH_ERROR")), Sent(1), Errors(1),
        ]),
        ("the overall deadline bounds attempts, timeouts and backoff", config(&[("maxRetries", num(10.0))]), vec![
            Get(Wait),
            Advance(10_000), Aborted(1), Waiters(Pending),
            LateReply(0, Token(100)), Waiters(Pending),
            Advance(1_000), Sent(2),
            Advance(10_000), Aborted(2),
            Advance(1_000), Sent(3),
            // The third attempt's timeout is cut to the deadline, 30 s after the start.
            Advance(7_999), Waiters(Pending), Advance(1), Aborted(3),
            Waiters(Fail("TIMEOUT")), Sent(3),
        ]),
        ("dispose during backoff fails the waiters and sends nothing more", std(), vec![
            Get(Wait), Reply(Status(503, None)), Sent(1),
            Dispose, Waiters(Fail("DISPOSED")), Timer(None),
            Advance(10_000), Sent(1), Get(Fail("DISPOSED")),
        ]),
        ("dispose while sending aborts the request", std(), vec![
            Get(Wait), Dispose, Aborted(1), Waiters(Fail("DISPOSED")),
        ]),
        ("invalidate during a flight replaces it; the old answer is ignored", std(), vec![
            Get(Wait), Sent(1), Invalidate, Aborted(1), Sent(2),
            LateReply(0, Token(100)), Waiters(Pending),
            Reply(Token(100)), Waiters(Ready(2)), Get(Ready(2)),
        ]),
        ("invalidate during backoff sends at once", std(), vec![
            Get(Wait), Reply(Network), Sent(1), Invalidate, Sent(2), Aborted(0),
            Reply(Token(100)), Waiters(Ready(1)),
        ]),
        ("a wall clock set back, or up to SUSPEND_GAP ahead, does not change a token's life", std(), vec![
            Get(Wait), Reply(Token(100)),
            WallJump(-86_400_000), Get(Ready(1)), WallJump(2_000), Pass(49_999), Get(Ready(1)), Sent(1),
            Pass(1), Get(Ready(1)), Sent(2),
        ]),
        ("a wall clock over SUSPEND_GAP ahead is a suspend: the token's life ends that much sooner", std(), vec![
            Get(Wait), Reply(Token(100)), Timer(Some(50_000)),
            WallJump(2_001), Get(Ready(1)), Timer(Some(47_999)), Sent(1),
            // An hour asleep: the token lapsed in its sleep and is never handed out.
            WallJump(3_600_000), Get(Wait), Expired(1), Sent(2),
        ]),
        // Honest expiry: a token is never attached after the lifetime its server gave it;
        // MIN_INTERVAL (5 s) between token requests keeps tiny lifetimes from making every
        // call fetch.
        ("expires_in: 0 goes to its waiters, is not kept, and the next request waits out the interval", std(), vec![
            Get(Wait), Get(Wait), Reply(Token(0)), Waiters(Ready(1)),
            Get(Wait), Sent(1), Timer(Some(5_000)), Advance(4_999), Sent(1), Waiters(Pending),
            Advance(1), Sent(2), Reply(Token(0)), Waiters(Ready(2)),
        ]),
        ("a 3 s token is attached for 3 s and never after; its replacement waits for the interval", std(), vec![
            Get(Wait), Reply(Token(3)), Waiters(Ready(1)), Get(Ready(1)), Timer(Some(3_000)),
            Advance(2_999), Get(Ready(1)), Sent(1), Expired(0),
            Advance(1), Expired(1), Get(Wait), Sent(1), Timer(Some(2_000)),
            Advance(2_000), Sent(2), Reply(Token(3)), Waiters(Ready(2)), Get(Ready(2)),
        ]),
        ("an 8 s token is refreshed once the interval allows, before it lapses", std(), vec![
            // refresh_at is half-way (4 s); the interval moves it to 5 s.
            Get(Wait), Reply(Token(8)), Timer(Some(5_000)), Advance(5_000), Sent(2),
            Get(Ready(1)), Reply(Token(8)), Get(Ready(2)), Expired(0),
        ]),
        ("a 10 s token is still refreshed at half-way (5 s)", std(), vec![
            Get(Wait), Reply(Token(10)), Timer(Some(5_000)), Advance(5_000), Sent(2),
        ]),
        ("invalidate() and a refused token are not held back by the interval", std(), vec![
            Get(Wait), Reply(Token(5)), Waiters(Ready(1)), Invalidate, Get(Wait), Sent(2), Reply(Token(5)), Waiters(Ready(2)),
            Unauthorized(2, None, true), Get(Wait), Sent(3),
        ]),
        ("a token that lapses with no replacement: expired once, then callers fetch", quiet(), vec![
            Get(Wait), Reply(Token(20)), Advance(10_000), Sent(2),
            Reply(Status(500, None)), Errors(1),
            Advance(COOLDOWN.0), Sent(3), Reply(Network), Errors(2),
            Advance(4_999), Expired(0), Get(Ready(1)),
            Advance(1), Expired(1), Advance(1_000), Expired(1), Sent(3),
            Get(Wait), Sent(4),
        ]),
    ];
    for (name, cfg, steps) in scenarios {
        run(name, cfg, &steps);
    }
}

#[test]
fn timer_keeps_node_alive_only_for_waiters() {
    let mut m = Machine::new(config(&[]), Runtime::Node, 1);
    assert!(matches!(m.get(at(0)), Get::Wait(_)));
    assert!(m.keep_alive(), "someone awaits the flight");
    let Some(Action::Send(a)) = m.poll() else { panic!() };
    let ok = HttpResponse {
        dpop_nonce: None,
        status: 200,
        retry_after: None,
        body: Body::Json(Value::Object(vec![("access_token".into(), Value::Str("x".into())), ("expires_in".into(), num(100.0))])),
    };
    m.handle_response(a, Ok(ok), Now { mono: Instant(10), wall: WallMillis(0) }, &parse_url);
    assert!(!m.keep_alive(), "a refresh timer must not keep a finished script alive");
    assert_eq!(m.poll_timeout(), Some(Instant(50_000)), "refresh point, counted from when the request was sent");
}

#[test]
fn api_keys_are_static_and_never_replayed() {
    let cfg = Config::from_options(
        &API_KEY,
        &Value::Object(vec![
            ("apiKey".into(), Value::Str("k".into())),
            ("allowedOrigins".into(), Value::Str("https://api.example.com".into())),
        ]),
        &parse_url,
    )
    .unwrap();
    let mut m = Machine::new(cfg, Runtime::Browser, 1);
    // Served by the shell from the start, for ever, with no timer to arm.
    let served = |m: &Machine| m.serving(at(0)).map(|s| (s.token.access_token.expose().to_owned(), s.until));
    assert_eq!(served(&m), Some(("k".into(), NEVER)));
    assert_eq!(m.poll_timeout(), None, "nothing to wake for");
    let Get::Ready(t) = m.get(at(0)) else { panic!() };
    assert!(!m.unauthorized(t.id, None, true), "a static key would be refused again");
    assert_eq!(served(&m), Some(("k".into(), NEVER)), "and is not dropped");
    m.invalidate(at(1));
    assert_eq!(served(&m), Some(("k".into(), NEVER)), "invalidate() has nothing to fetch again");
    assert!(matches!(m.get(at(u64::MAX - 1)), Get::Ready(_)));
    assert!(m.poll().is_none() && m.poll_timeout().is_none());
    m.dispose();
    assert_eq!(served(&m), None);
    assert!(matches!(m.get(at(2)), Get::Fail(Error::Disposed)));
}

#[test]
fn www_authenticate_parsing() {
    use tokenkit::proto::http::{parse_challenges, token_refused};
    let c = |scheme: &str, error: Option<&str>| (scheme.to_owned(), error.map(str::to_owned));
    let pc = |v: &str| parse_challenges(v).into_iter().map(|c| (c.scheme, c.error)).collect::<Vec<_>>();
    // The other auth-params are kept, unquoted, names lower-cased (for challenge()).
    let first = parse_challenges(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#).remove(0);
    assert_eq!(first.params, vec![("realm".to_owned(), "apps".to_owned()), ("type".to_owned(), "1".to_owned()), ("title".to_owned(), "Login to \"apps\"".to_owned())]);
    assert_eq!(
        pc(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#),
        vec![c("Newauth", None), c("Basic", None)],
        "RFC 9110 §11.6.1's example"
    );
    assert_eq!(
        pc(r#"Bearer realm="a, b", error="invalid_token", error_description="x,y", DPoP algs="ES256""#),
        vec![c("Bearer", Some("invalid_token")), c("DPoP", None)]
    );
    assert_eq!(pc("Bearer error=invalid_token"), vec![c("Bearer", Some("invalid_token"))]);
    assert_eq!(pc("Negotiate abc=="), vec![c("Negotiate", None)], "token68");
    assert_eq!(pc(" , ,"), vec![]);
    for (header, refused) in [
        (None, true),
        (Some(""), true),
        (Some("Bearer"), true),
        (Some(r#"Bearer realm="x""#), true),
        (Some(r#"bearer ERROR="invalid_token""#), true),
        (Some(r#"Bearer error="insufficient_scope""#), false),
        (Some("Basic"), false),
        (Some(r#"Bearer, Basic realm="x""#), false),
        (Some(r#"Basic realm="x", Bearer error="invalid_token""#), true),
    ] {
        assert_eq!(token_refused(header), refused, "{header:?}");
    }
}

/// `serving()` is what lets the JS shell answer `getToken()` without entering wasm: it must
/// name exactly the token `get` would return, and an instant before which `get` changes
/// nothing (no action, no flight, the same answer), and vanish whenever the token may not be
/// served (invalidated, refused by the API, disposed).
#[test]
fn serving_is_exactly_when_get_would_answer_from_memory() {
    let mut m = Machine::new(config(&[]), Runtime::Node, 1);
    let token = |n: &str, secs: f64| HttpResponse {
        dpop_nonce: None,
        status: 200,
        retry_after: None,
        body: Body::Json(Value::Object(vec![("access_token".into(), Value::Str(n.into())), ("expires_in".into(), num(secs))])),
    };
    let served = |m: &Machine| m.serving(at(0)).map(|s| (s.token.access_token.expose().to_owned(), s.until.0));
    assert_eq!(served(&m), None, "no token yet");
    assert!(matches!(m.get(at(0)), Get::Wait(_)));
    assert_eq!(served(&m), None, "a first flight is not a token");
    let Some(Action::Send(a)) = m.poll() else { panic!() };
    m.handle_response(a, Ok(token("t1", 100.0)), at(10), &parse_url);
    while m.poll().is_some() {}
    // Served until the refresh point; just before it, get answers t1 and does nothing else.
    assert_eq!(served(&m), Some(("t1".into(), 50_000)));
    assert!(matches!(m.get(at(49_999)), Get::Ready(t) if t.access_token.expose() == "t1"));
    assert!(m.poll().is_none(), "no action before the instant serving() names");
    assert_eq!(served(&m), Some(("t1".into(), 50_000)));
    // At it, get starts the background refresh: the shell must have asked.
    assert!(matches!(m.get(at(50_000)), Get::Ready(_)));
    let Some(Action::Send(b)) = m.poll() else { panic!("the refresh starts at the refresh point") };
    // While the refresh is in flight, t1 is served until the flight's next deadline.
    let now = at(50_000);
    let (until, wall_until) = m.serving(now).map(|s| (s.until, s.wall_until)).unwrap();
    assert_eq!(wall_until.0, now.wall.0 + (until.0 - now.mono.0), "the same deadline on the wall clock");
    assert_eq!(Some(until), m.poll_timeout());
    assert!(until.0 > 50_000 && until.0 <= 100_010);
    m.handle_response(b, Ok(token("t2", 100.0)), at(50_100), &parse_url);
    while m.poll().is_some() {}
    assert_eq!(served(&m).map(|s| s.0), Some("t2".into()), "the new token is served at once");
    // The API refused t2: not served any more.
    let t2 = m.serving(at(50_100)).map(|s| s.token.id).unwrap();
    m.unauthorized(t2, None, false);
    assert_eq!(served(&m), None, "a refused token is never served from the shell");
    assert!(matches!(m.get(at(50_200)), Get::Wait(_)));
    let Some(Action::Send(c)) = m.poll() else { panic!() };
    m.handle_response(c, Ok(token("t3", 100.0)), at(50_300), &parse_url);
    while m.poll().is_some() {}
    assert!(served(&m).is_some());
    m.invalidate(at(50_400));
    assert_eq!(served(&m), None, "invalidated");
    assert!(matches!(m.get(at(50_500)), Get::Wait(_)));
    let Some(Action::Send(d)) = m.poll() else { panic!() };
    m.handle_response(d, Ok(token("t4", 100.0)), at(50_600), &parse_url);
    assert!(served(&m).is_some());
    m.dispose();
    assert_eq!(served(&m), None, "disposed");
}

/// The rule shell.js's fast path executes, as the machine publishes it (`serving(now)`):
/// which token, until when on the monotonic clock and until when on the wall clock, after
/// each kind of step. One row per situation; `wall_until` is always `until` read off the
/// wall clock of the input that published it, so a suspend (where the monotonic clock
/// stood still) ends serving on the wall clock.
#[test]
fn the_serving_rule_table() {
    type Setup = fn(&mut Machine) -> Now;
    type Served = Option<(&'static str, u64, i64)>;
    let token = |n: &str, secs: f64| HttpResponse {
        dpop_nonce: None,
        status: 200,
        retry_after: None,
        body: Body::Json(Value::Object(vec![("access_token".into(), Value::Str(n.into())), ("expires_in".into(), num(secs))])),
    };
    // Every machine starts with a 100 s token sent at 0 ms and answered at 10 ms.
    let fetched = move |m: &mut Machine| {
        assert!(matches!(m.get(at(0)), Get::Wait(_)));
        let Some(Action::Send(a)) = m.poll() else { panic!() };
        m.handle_response(a, Ok(token("t1", 100.0)), at(10), &parse_url);
        while m.poll().is_some() {}
    };
    // (situation, the steps after the fetch (they return the input's clocks), the token
    // served, until (monotonic ms), until (wall ms from the test's epoch)).
    let rows: Vec<(&str, Setup, Served)> = vec![
        ("a fresh token: until the refresh point", |_| at(10), Some(("t1", 50_000, 50_000))),
        ("read later, the same deadline", |_| at(20_000), Some(("t1", 50_000, 50_000))),
        ("its refresh in flight: until that attempt's timeout", |m| {
            m.handle_timeout(at(50_000));
            while m.poll().is_some() {}
            at(50_000)
        }, Some(("t1", 60_000, 60_000))),
        ("after a 10 s suspend: 10 s earlier on the monotonic clock, the same instant on the wall clock", |m| {
            let woke = Now { mono: Instant(20_000), wall: WallMillis(1_700_000_000_000 + 30_000) };
            m.handle_timeout(woke);
            woke
        }, Some(("t1", 40_000, 50_000))),
        ("after the wall clock is set back a day: the same monotonic deadline, the wall one moved with the clock", |m| {
            let back = Now { mono: Instant(20_000), wall: WallMillis(1_700_000_000_000 + 20_000 - 86_400_000) };
            m.handle_timeout(back);
            back
        }, Some(("t1", 50_000, 50_000 - 86_400_000))),
        ("invalidated: nothing", |m| {
            m.invalidate(at(20_000));
            at(20_000)
        }, None),
        ("refused by the API: nothing", |m| {
            let id = m.serving(at(20_000)).unwrap().token.id;
            m.unauthorized(id, None, true);
            at(20_000)
        }, None),
        ("lapsed: nothing", |m| {
            m.handle_timeout(at(100_010));
            while m.poll().is_some() {}
            at(100_010)
        }, None),
        ("disposed: nothing", |m| {
            m.dispose();
            at(20_000)
        }, None),
    ];
    for (name, setup, want) in rows {
        let mut m = Machine::new(config(&[("maxRetries", num(0.0)), ("timeoutMs", num(10_000.0))]), Runtime::Node, 1);
        fetched(&mut m);
        let now = setup(&mut m);
        let got = m.serving(now).map(|s| (s.token.access_token.expose().to_owned(), s.until.0, s.wall_until.0 as i64 - 1_700_000_000_000));
        assert_eq!(got, want.map(|(t, until, wall)| (t.to_owned(), until, wall)), "{name}");
    }
    // An API key: served for ever, no deadline on either clock.
    let key = Config::from_options(
        &API_KEY,
        &Value::Object(vec![("apiKey".into(), Value::Str("k".into())), ("allowedOrigins".into(), Value::Str("https://api.example.com".into()))]),
        &parse_url,
    )
    .unwrap();
    let m = Machine::new(key, Runtime::Browser, 1);
    let s = m.serving(at(5)).unwrap();
    assert_eq!((s.until, s.wall_until), (NEVER, WallMillis(u64::MAX)));
}
