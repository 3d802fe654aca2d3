// Package monitor is the monitoring part of the deployment stage (quality
// check QC-DEP-1): it reads a deployment's inference events window by
// window through ethos.InferenceEventReader and judges the alert rules of
// its monitoring plan.
//
// Per window, in one pass over the events:
//   - input drift of each watched field against the reference: PSI,
//     chi-square and Jensen–Shannon for categorical fields, KS,
//     Wasserstein and PSI for numeric ones; a categorical value never seen
//     in the reference (a new scanner model, a new software version) is an
//     alert of its own, per site;
//   - output drift: score distribution (PSI, KS, Wasserstein), positive
//     rate and its shift, reader override rate;
//   - realised performance where labels are attached: sensitivity,
//     specificity, PPV with Wilson intervals and AUROC with a DeLong
//     interval, overall, per subgroup (sex, age band) and per site, each
//     with a minimum sample size; the subgroup gap and its drift from the
//     reference;
//   - sequential change detection (CUSUM or Page–Hinkley, from package
//     drift) on the stream of positive decisions and of reader overrides.
//
// Alerts have hysteresis (k consecutive judged windows to raise, m to
// clear; windows with too little data neither raise nor clear) and are
// grouped by deployment and site. A raised alert named by a stop-rule
// opens a "suspension recommended" case with a decision deadline; the
// deployment is suspended automatically only when the stop-rule's action
// says so. Alerts are posted to the plan's webhook with retries.
//
// The Engine is pure: it needs only a reader and a plan, and carries its
// state (hysteresis counters, detector sums) in a State value the caller
// stores between runs. Monitor adds the store, the webhook and the
// deployment registry; Scheduler runs Monitor on a ticker.
package monitor
