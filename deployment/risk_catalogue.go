package deployment

import "github.com/ethos-imaging/ethos"

// Catalogue returns the starter catalogue of hazards of an imaging AI
// system in clinical use. A register must assess each of them or declare
// it not applicable with a reason (see Complete). The texts are Ethos's
// own; a deployment may add hazards of its own to the register.
func Catalogue() []ethos.Hazard {
	return []ethos.Hazard{
		{ID: "HAZ-DRIFT", Title: "Data drift",
			Description: "The images or the population seen in use move away from those the model was trained and evaluated on: a new scanner, protocol, reconstruction kernel or software version, a new referral pattern or site.",
			Harm:        "Performance falls silently; findings are missed or over-called without anyone noticing."},
		{ID: "HAZ-UNDERREP", Title: "Under-represented groups",
			Description: "Some groups (by sex, age band, ethnicity, body habitus, device or site) were few in training or evaluation, so performance for them is unknown or worse.",
			Harm:        "Patients in those groups receive systematically worse care than others."},
		{ID: "HAZ-AUTOMATION-BIAS", Title: "Automation bias",
			Description: "Readers defer to the model's output, stop looking for what it does not flag, or overturn their own correct judgement.",
			Harm:        "Model errors pass unchecked into reports and treatment decisions."},
		{ID: "HAZ-CORRUPT-INPUT", Title: "Adversarial or corrupted input",
			Description: "Images altered on purpose, truncated or badly compressed files, wrong pixel spacing, artefacts (motion, metal, implants) outside what the model handles.",
			Harm:        "Confident but wrong outputs on inputs the model should have refused."},
		{ID: "HAZ-WRONG-PATIENT", Title: "Wrong patient, study or laterality",
			Description: "Results attached to the wrong patient or study, left and right swapped, or a prior study analysed instead of the current one.",
			Harm:        "Treatment or follow-up of the wrong patient or the wrong side."},
		{ID: "HAZ-OUTAGE", Title: "Outage or delayed results",
			Description: "The service is down, slow or silently drops studies; clinicians expect a result that never arrives.",
			Harm:        "Delayed diagnosis, or studies assumed reviewed by the model that were not."},
		{ID: "HAZ-OFF-LABEL", Title: "Use outside the intended use",
			Description: "The model is run on a modality, body part, age group or clinical question it was not validated for (for example children, or a different view).",
			Harm:        "Outputs with no evidence of validity are acted on."},
		{ID: "HAZ-THRESHOLD", Title: "Operating point unsuited to the site",
			Description: "The decision threshold chosen during evaluation does not fit the local prevalence or workflow, giving too many false alarms or too many misses.",
			Harm:        "Alarm fatigue and ignored alerts, or missed disease."},
		{ID: "HAZ-UPDATE", Title: "Uncontrolled model or software change",
			Description: "A new model version, dependency or configuration reaches production without the evaluation that the deployed version passed.",
			Harm:        "Performance changes without evidence or sign-off."},
		{ID: "HAZ-PRIVACY", Title: "Personal-data exposure",
			Description: "Images, reports or logs leave the permitted environment, or identifiers survive in pixel data, headers or logs.",
			Harm:        "Breach of confidentiality; loss of patients' trust; regulatory breach."},
		{ID: "HAZ-EXPLAIN", Title: "Misleading explanation or confidence",
			Description: "Heat maps, scores or confidence values are read as more reliable or more causal than they are.",
			Harm:        "Clinicians over-trust or mislocalise findings."},
	}
}
