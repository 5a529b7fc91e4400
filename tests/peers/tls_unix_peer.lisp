;;;; Common Lisp peers over TLS (cl+ssl, OpenSSL underneath) and Unix
;;;; domain sockets (SBCL's sb-bsd-sockets local sockets), for the interop
;;;; tests. Run as
;;;;   sbcl --script tests/peers/tls_unix_peer.lisp ROLE ARG...
;;;; A server role prints "listening on ..." once it accepts; every role
;;;; exits 0 on success, 1 on an error. The probe role prints the versions.

(require :asdf)
(require :sb-bsd-sockets)
(let ((*standard-output* (make-broadcast-stream))
      (*error-output* (make-broadcast-stream)))
  (asdf:load-system :usocket)
  (asdf:load-system :cl+ssl))

(defun say (control &rest args)
  (apply #'format t control args)
  (terpri)
  (finish-output))

(defun arg-integer (string) (parse-integer string))

(defun read-number (stream)
  (let ((*read-eval* nil)) (read stream)))

;;; socket-sum over TLS: connect, make-ssl-client-stream checking the
;;; server's certificate against CA-FILE and HOST, send A and B, print the
;;; sum the server answers.
(defun tls-socket-sum (host port ca-file a b)
  (cl+ssl:with-global-context
      ((cl+ssl:make-context :verify-mode cl+ssl:+ssl-verify-peer+
                            :verify-location ca-file)
       :auto-free-p t)
    (let ((conn (usocket:socket-connect host port :element-type '(unsigned-byte 8))))
      (unwind-protect
           (let ((stream (cl+ssl:make-ssl-client-stream
                          (usocket:socket-stream conn)
                          :hostname host :verify :required
                          :external-format :latin-1)))
             (format stream "~a ~a " a b)
             (force-output stream)
             (say "~s" (read-number stream))
             (close stream))
        (usocket:socket-close conn)))))

;;; The sum server over TLS, for one client: make-ssl-server-stream with
;;; CERT and KEY, read two numbers, write their sum, close.
(defun tls-sum-server (cert key)
  (let ((listener (usocket:socket-listen "127.0.0.1" 0 :reuse-address t
                                                       :element-type '(unsigned-byte 8))))
    (say "listening on 127.0.0.1:~d" (usocket:get-local-port listener))
    (let ((conn (usocket:socket-accept listener)))
      (unwind-protect
           (let ((stream (cl+ssl:make-ssl-server-stream
                          (usocket:socket-stream conn)
                          :certificate cert :key key
                          :external-format :latin-1)))
             (let* ((a (read-number stream)) (b (read-number stream)))
               (format stream "~s" (+ a b))
               (force-output stream)
               (close stream)))
        (usocket:socket-close conn)
        (usocket:socket-close listener)))))

(defun local-stream (socket)
  (sb-bsd-sockets:socket-make-stream socket :input t :output t
                                            :element-type 'character
                                            :buffering :full))

;;; socket-sum over a Unix socket (:address-family :file in Allegro's words).
(defun unix-socket-sum (path a b)
  (let ((socket (make-instance 'sb-bsd-sockets:local-socket :type :stream)))
    (unwind-protect
         (progn
           (sb-bsd-sockets:socket-connect socket path)
           (let ((stream (local-stream socket)))
             (format stream "~a ~a " a b)
             (force-output stream)
             (sb-bsd-sockets:socket-shutdown socket :direction :output)
             (say "~s" (read-number stream))))
      (sb-bsd-sockets:socket-close socket))))

;;; The sum server on a Unix socket, for one client.
(defun unix-sum-server (path)
  (let ((listener (make-instance 'sb-bsd-sockets:local-socket :type :stream)))
    (unwind-protect
         (progn
           (sb-bsd-sockets:socket-bind listener path)
           (sb-bsd-sockets:socket-listen listener 5)
           (say "listening on ~a" path)
           (let* ((conn (sb-bsd-sockets:socket-accept listener))
                  (stream (local-stream conn)))
             (unwind-protect
                  (let* ((a (read-number stream)) (b (read-number stream)))
                    (format stream "~s" (+ a b))
                    (force-output stream))
               (sb-bsd-sockets:socket-close conn))))
      (sb-bsd-sockets:socket-close listener)
      (ignore-errors (delete-file path)))))

(defun probe ()
  (say "~a ~a with cl+ssl ~a"
       (lisp-implementation-type) (lisp-implementation-version)
       (asdf:component-version (asdf:find-system :cl+ssl))))

(defun main (args)
  (let ((role (first args)) (rest (rest args)))
    (handler-case
        (progn
          (cond ((string= role "probe") (probe))
                ((string= role "tls-socket-sum")
                 (tls-socket-sum (first rest) (arg-integer (second rest))
                                 (third rest) (fourth rest) (fifth rest)))
                ((string= role "tls-sum-server")
                 (tls-sum-server (first rest) (second rest)))
                ((string= role "unix-socket-sum")
                 (unix-socket-sum (first rest) (second rest) (third rest)))
                ((string= role "unix-sum-server")
                 (unix-sum-server (first rest)))
                (t (error "unknown role ~a" role)))
          (finish-output)
          (sb-ext:exit :code 0))
      (error (e)
        (format *error-output* "error: ~a~%" e)
        (finish-output *error-output*)
        (sb-ext:exit :code 1 :abort t)))))

(main (rest sb-ext:*posix-argv*))
