;;;; Common Lisp peers for the interop tests: the tutorial flows written
;;;; for SBCL with usocket. Run as
;;;;   sbcl --script tests/peers/peer.lisp ROLE ARG...
;;;; A server role prints "listening on HOST:PORT" once it accepts, so the
;;;; test knows the port; every role exits 0 on success, 1 on an error.
;;;; The probe role only prints the versions: it succeeds when usocket loads.

(require :asdf)
(let ((*standard-output* (make-broadcast-stream))
      (*error-output* (make-broadcast-stream)))
  (asdf:load-system :usocket))

(defun say (control &rest args)
  (apply #'format t control args)
  (terpri)
  (finish-output))

(defun listening (socket)
  (say "listening on ~a:~d"
       (usocket:host-to-hostname (usocket:get-local-address socket))
       (usocket:get-local-port socket)))

(defun arg-integer (string) (parse-integer string))

;;; Allegro's "Lisp One": a passive socket on a port the OS picks, one
;;; datum read, "bye " written back.
(defun passive-one ()
  (let ((listener (usocket:socket-listen "127.0.0.1" 0 :reuse-address t)))
    (listening listener)
    (let ((conn (usocket:socket-accept listener)))
      (unwind-protect
           (let ((stream (usocket:socket-stream conn)))
             (say "~s" (read stream))
             (format stream "bye ")
             (force-output stream))
        (usocket:socket-close conn)
        (usocket:socket-close listener)))))

;;; Allegro's "Lisp Two": connect, write "hello ", read the answer.
(defun active-two (host port)
  (let ((conn (usocket:socket-connect host port)))
    (unwind-protect
         (let ((stream (usocket:socket-stream conn)))
           (format stream "hello ")
           (force-output stream)
           (say "~s" (read stream)))
      (usocket:socket-close conn))))

;;; usocket's TCP pair: one "Hello World" line.
(defun hello-server (port)
  (let* ((listener (usocket:socket-listen "127.0.0.1" port :reuse-address t)))
    (listening listener)
    (let ((conn (usocket:socket-accept listener :element-type 'character)))
      (unwind-protect
           (let ((stream (usocket:socket-stream conn)))
             (format stream "Hello World~%")
             (force-output stream))
        (usocket:socket-close conn)
        (usocket:socket-close listener)))))

(defun hello-client (port)
  (usocket:with-client-socket (conn stream "127.0.0.1" port :element-type 'character)
    (usocket:wait-for-input conn :timeout 5)
    (say "Input is: ~a" (read-line stream))))

;;; Allegro's sum server, serving COUNT clients, with read-time evaluation
;;; switched off.
(defun sum-server (port count)
  (let ((listener (usocket:socket-listen "127.0.0.1" port :reuse-address t))
        (*read-eval* nil))
    (listening listener)
    (unwind-protect
         (dotimes (i count)
           (let* ((conn (usocket:socket-accept listener))
                  (stream (usocket:socket-stream conn)))
             (unwind-protect
                  (handler-case (format stream "~s" (+ (read stream) (read stream)))
                    (error (e) (format stream "(:error ~s)" (princ-to-string e))))
               (force-output stream)
               (usocket:socket-close conn))))
      (usocket:socket-close listener))))

;;; Allegro's socket-sum client: the arguments are Lisp number syntax.
(defun socket-sum (host port a b)
  (let ((*read-eval* nil))
    (let ((conn (usocket:socket-connect host port)))
      (unwind-protect
           (let ((stream (usocket:socket-stream conn)))
             (format stream "~s ~s " (read-from-string a) (read-from-string b))
             (force-output stream)
             (say "~s" (read stream)))
        (usocket:socket-close conn)))))

;;; Sums every pair in FILE (one "A B" pair a line) with socket-sum against
;;; HOST:PORT, one connection a pair. The server closes the connection after
;;; its answer, so the whole reply is read as text, then read as Lisp data:
;;; each pair prints one line, (DATUM "REPLY"), where DATUM is the reply as
;;; this Lisp reads and prints it (:UNREADABLE if it cannot) and REPLY the
;;; exact text received, all on one line (no pretty printing). A pair that
;;; fails on this side prints ERROR.
(defun read-to-end (stream)
  (with-output-to-string (out)
    (loop for char = (read-char stream nil)
          while char
          do (write-char char out))))

(defun socket-sum-file (host port file)
  (let ((*read-eval* nil) (*print-pretty* nil))
    (with-open-file (in file)
      (loop for line = (read-line in nil)
            while line
            do (handler-case
                   (with-input-from-string (pair line)
                     (let ((a (read pair)) (b (read pair))
                           (conn (usocket:socket-connect host port)))
                       (unwind-protect
                            (let ((stream (usocket:socket-stream conn)))
                              (format stream "~s ~s " a b)
                              (force-output stream)
                              (let ((reply (read-to-end stream)))
                                (say "~s" (list (handler-case (read-from-string reply)
                                                  (error () :unreadable))
                                                reply))))
                         (usocket:socket-close conn))))
                 (error () (say "ERROR")))))))

;;; usocket's UDP pair: the server sends back the datagram it got, reversed.
(defun udp-reverse-server (port)
  (let ((socket (usocket:socket-connect nil nil :protocol :datagram
                                                :element-type '(unsigned-byte 8)
                                                :local-host "127.0.0.1"
                                                :local-port port)))
    (say "listening on 127.0.0.1:~d" (usocket:get-local-port socket))
    (unwind-protect
         (let ((buffer (make-array 65507 :element-type '(unsigned-byte 8))))
           (multiple-value-bind (data size host from-port)
               (usocket:socket-receive socket buffer 65507)
             (let ((got (subseq data 0 size)))
               (say "~a" got)
               (usocket:socket-send socket (reverse got) size
                                    :host host :port from-port))))
      (usocket:socket-close socket))))

(defun udp-reverse-client (port)
  (let ((socket (usocket:socket-connect "127.0.0.1" port :protocol :datagram
                                                         :element-type '(unsigned-byte 8))))
    (unwind-protect
         (let ((buffer (make-array 8 :element-type '(unsigned-byte 8)
                                     :initial-contents '(1 2 3 4 5 6 7 8))))
           (usocket:socket-send socket buffer 8)
           (unless (usocket:wait-for-input socket :timeout 5 :ready-only t)
             (error "no reply"))
           (multiple-value-bind (data size) (usocket:socket-receive socket buffer 8)
             (say "~a" (subseq data 0 size))))
      (usocket:socket-close socket))))

(defun probe ()
  (say "~a ~a with usocket ~a" (lisp-implementation-type) (lisp-implementation-version)
       (asdf:component-version (asdf:find-system :usocket))))

(defun main (args)
  (let ((role (first args)) (rest (rest args)))
    (handler-case
        (progn
          (cond ((string= role "probe") (probe))
                ((string= role "passive-one") (passive-one))
                ((string= role "active-two") (active-two (first rest) (arg-integer (second rest))))
                ((string= role "hello-server") (hello-server (arg-integer (first rest))))
                ((string= role "hello-client") (hello-client (arg-integer (first rest))))
                ((string= role "sum-server") (sum-server (arg-integer (first rest)) (arg-integer (second rest))))
                ((string= role "socket-sum") (socket-sum (first rest) (arg-integer (second rest)) (third rest) (fourth rest)))
                ((string= role "socket-sum-file") (socket-sum-file (first rest) (arg-integer (second rest)) (third rest)))
                ((string= role "udp-reverse-server") (udp-reverse-server (arg-integer (first rest))))
                ((string= role "udp-reverse-client") (udp-reverse-client (arg-integer (first rest))))
                (t (error "unknown role ~a" role)))
          (sb-ext:exit :code 0))
      (error (e)
        (format *error-output* "peer error: ~a~%" e)
        (sb-ext:exit :code 1)))))

(main (rest sb-ext:*posix-argv*))
