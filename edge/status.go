package edge

import "errors"

// StatusOf returns the status of a refusal found in err's chain, or 0.
func StatusOf(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Reason
	}
	return 0, ""
}
