package processing

// SetTamper installs a hook that alters each output file after the engine
// wrote it and before the pixel check reads it.
func SetTamper(p *Processor, fn func(path string) error) { p.tamper = fn }
