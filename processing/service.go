package processing

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/ethos-imaging/ethos"
)

// Service offers the dataset work of Datasets as ethos.DatasetWorkflow:
// it finds the project and its declared purpose and turns label-file
// errors into coded errors.
type Service struct {
	Datasets  *Datasets
	Projects  ethos.ProjectService
	Instances ethos.InstanceService // collection rules: the project's purpose
	// Gate is consulted before an export (the training stage refuses
	// while a consent-withdrawal obligation on the version is open).
	Gate ethos.ExportGate
}

var (
	_ ethos.DatasetWorkflow = (*Service)(nil)
	_ ethos.DatasetExporter = (*Service)(nil)
)

func (s *Service) caller(ctx context.Context, who ethos.AccessRequest, projectID, requestID string) (*Caller, error) {
	p, err := s.Projects.FindProjectByID(ctx, projectID)
	if err != nil {
		return nil, err
	}
	rules, err := s.Instances.CollectionRules(ctx, p.ID)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return nil, ethos.Errorf(ethos.EINVALID, "project %s has no collection rules (no declared purpose)", p.ID)
		}
		return nil, err
	}
	return &Caller{Project: p, Purpose: rules.Purpose, Access: who, RequestID: requestID}, nil
}

func (s *Service) BuildDatasetVersion(ctx context.Context, who ethos.AccessRequest, projectID, runID, description, requestID string) (*ethos.DatasetVersion, int, error) {
	c, err := s.caller(ctx, who, projectID, requestID)
	if err != nil {
		return nil, 0, err
	}
	return s.Datasets.Create(ctx, c, runID, description)
}

func (s *Service) LabelDatasetVersion(ctx context.Context, who ethos.AccessRequest, projectID, versionID string, csv io.Reader, allowed []string, requestID string) (*ethos.DatasetVersion, error) {
	c, err := s.caller(ctx, who, projectID, requestID)
	if err != nil {
		return nil, err
	}
	v, _, err := s.Datasets.ImportLabels(ctx, c, versionID, csv, allowed)
	if le, ok := errors.AsType[*LabelErrors](err); ok {
		return nil, ethos.Errorf(ethos.EINVALID, "%s; nothing applied", le.Error())
	}
	return v, err
}

func (s *Service) SplitDatasetVersion(ctx context.Context, who ethos.AccessRequest, projectID, versionID string, parts []ethos.DatasetSplitPart, stratifyBy []string, seed int64, requestID string) (*ethos.DatasetSplit, error) {
	c, err := s.caller(ctx, who, projectID, requestID)
	if err != nil {
		return nil, err
	}
	return s.Datasets.Split(ctx, c, versionID, SplitSpec{Parts: parts, StratifyBy: stratifyBy, Seed: seed})
}

func (s *Service) WriteDatasheet(ctx context.Context, who ethos.AccessRequest, projectID, versionID, format string, w io.Writer, requestID string) error {
	if format != "json" && format != "md" && format != "html" {
		return ethos.Errorf(ethos.EINVALID, "datasheet format must be json, md or html")
	}
	c, err := s.caller(ctx, who, projectID, requestID)
	if err != nil {
		return err
	}
	ds, err := s.Datasets.Datasheet(ctx, c, versionID)
	if err != nil {
		return err
	}
	switch format {
	case "md":
		return ds.WriteMarkdown(w)
	case "html":
		return ds.WriteHTML(w)
	}
	b, err := json.MarshalIndent(ds, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (s *Service) ExportDataset(ctx context.Context, who ethos.AccessRequest, projectID, versionID string, o ethos.DatasetExportOptions, w io.Writer, requestID string) error {
	c, err := s.caller(ctx, who, projectID, requestID)
	if err != nil {
		return err
	}
	_, err = s.Datasets.ExportTar(ctx, c, versionID, w, ExportOptions{Gate: s.Gate, SplitID: o.SplitID, ReweighBy: o.ReweighBy})
	return err
}
